"""The typed config model: the whole `doc-rag:*` contract, validated before anything is registered.

One pydantic model holds every key of DESIGN.md's config contract. `load_config()` reads the stack's
config through `pulumi.Config` and either returns a `DocRagConfig` or raises `ConfigError`, whose
message names the key path, the value given and what is allowed. `pulumi up` and `python -m ops plan`
print that same message.

One module per concern, each importing only those above it:
  errors         ConfigError, and how a refused value reads (key path, value, what is allowed)
  validators     the strict base model and the shared value checks (image, quantity, duration, cron, ...)
  cluster, platform, release, traffic, postgres, observability, cost
                 one section of the contract each, with its own tables (node shapes, chart minimums)
  model          DocRagConfig, the root, and the rules that span sections; which keys exist
  load           from stack config to the model (load_config, validate_settings), and the secrets
"""

from components.config.cluster import (
    MIN_NODE_GIB,
    MIN_NODE_VCPU,
    NODE_FAMILY_XLARGE_SHAPE,
    NODE_SIZE_XLARGES,
    ClusterConfig,
    node_shape,
)
from components.config.cost import CostAssumptionsConfig
from components.config.errors import ConfigError
from components.config.load import (
    PROJECT,
    Secrets,
    copy_region_problems,
    load_config,
    parse_config,
    validate_settings,
)
from components.config.model import (
    KNOWN_KEYS,
    OBJECT_KEYS,
    STRING_KEYS,
    SUPPORTED_KUBERNETES_VERSIONS,
    DocRagConfig,
)
from components.config.observability import ObservabilityConfig
from components.config.platform import (
    CHART_VERSION_PATTERN,
    MIN_CHART_VERSIONS,
    AddonConfig,
    PlatformConfig,
    version_tuple,
)
from components.config.postgres import BackupConfig, PostgresConfig
from components.config.release import (
    COLORS,
    MAX_HISTORY,
    Color,
    ColorConfig,
    GatesConfig,
    GateVerdict,
    ReleaseConfig,
    Verdict,
)
from components.config.secret_keys import SECRET_KEYS
from components.config.traffic import TrafficConfig
from components.config.validators import (
    check_bucket_name,
    check_cron,
    check_duration,
    check_image,
    check_ipv4_network,
    check_quantity,
    check_region,
    duration_seconds,
    has_digest,
)

__all__ = [
    "CHART_VERSION_PATTERN", "COLORS", "KNOWN_KEYS", "MAX_HISTORY", "MIN_CHART_VERSIONS", "MIN_NODE_GIB",
    "MIN_NODE_VCPU", "NODE_FAMILY_XLARGE_SHAPE", "NODE_SIZE_XLARGES", "OBJECT_KEYS", "PROJECT", "SECRET_KEYS",
    "STRING_KEYS", "SUPPORTED_KUBERNETES_VERSIONS",
    "AddonConfig", "BackupConfig", "ClusterConfig", "Color", "ColorConfig", "ConfigError", "CostAssumptionsConfig",
    "DocRagConfig", "GateVerdict", "GatesConfig", "ObservabilityConfig", "PlatformConfig", "PostgresConfig",
    "ReleaseConfig", "Secrets", "TrafficConfig", "Verdict",
    "check_bucket_name", "check_cron", "check_duration", "check_image", "check_ipv4_network", "check_quantity",
    "check_region", "copy_region_problems", "duration_seconds", "has_digest", "load_config", "node_shape",
    "parse_config", "validate_settings", "version_tuple",
]
