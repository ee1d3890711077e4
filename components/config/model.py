"""The root of the `doc-rag:*` contract: which keys exist, and DocRagConfig, which holds every section and the
rules that span two of them (the ACME contact, backup storage per cluster mode, rendering without Helm)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from components.config.cluster import ClusterConfig
from components.config.cost import CostAssumptionsConfig
from components.config.errors import FieldError
from components.config.observability import ObservabilityConfig
from components.config.platform import PlatformConfig
from components.config.postgres import PostgresConfig
from components.config.release import ReleaseConfig
from components.config.secret_keys import SECRET_KEYS
from components.config.traffic import TrafficConfig
from components.config.validators import BUCKET_ALLOWED, DOMAIN_RE, REGION_ALLOWED, StrictModel

# EKS standard-support versions that kubernetes-validate also has schemas for.
SUPPORTED_KUBERNETES_VERSIONS = ("1.33", "1.34", "1.35")

# Structured keys read with require_object/get_object; plain string keys read with get().
OBJECT_KEYS = ("cluster", "release", "traffic", "postgres", "platform", "observability", "costAssumptions")
STRING_KEYS = ("domain", "kubernetesVersion")
KNOWN_KEYS = STRING_KEYS + OBJECT_KEYS + SECRET_KEYS


class DocRagConfig(StrictModel):
    """The whole contract but the secret keys (SECRET_KEYS): they stay secret Outputs (see load.Secrets)."""

    domain: str = "api.docrag.example.com"
    kubernetesVersion: str = "1.34"
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    release: ReleaseConfig
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    postgres: PostgresConfig = Field(default_factory=PostgresConfig)
    platform: PlatformConfig = Field(default_factory=PlatformConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    costAssumptions: CostAssumptionsConfig = Field(default_factory=CostAssumptionsConfig)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not DOMAIN_RE.match(value):
            raise ValueError("allowed: a lower-case DNS name with at least two labels, e.g. api.docrag.example.com")
        return value

    @field_validator("kubernetesVersion")
    @classmethod
    def _version(cls, value: str) -> str:
        if value not in SUPPORTED_KUBERNETES_VERSIONS:
            raise ValueError(f"allowed: one of {list(SUPPORTED_KUBERNETES_VERSIONS)}")
        return value

    @model_validator(mode="after")
    def _acme_contact(self) -> "DocRagConfig":
        # Pulumi.yaml gives every stack a `platform` block, so under the CLI and the plan this always applies;
        # only hand-built configs with no platform block at all (unit tests) skip it.
        if "platform" in self.model_fields_set and self.platform.clusterIssuer and self.platform.acmeEmail is None:
            raise FieldError(
                "platform.acmeEmail", None,
                "required with clusterIssuer: true (Let's Encrypt's contact for expiry notices; "
                "an address on your own domain)",
            )
        return self

    @property
    def backups(self) -> bool:
        """Whether Postgres is backed up: postgres.backup.enabled, or by default in eks mode and in existing mode
        when postgres.backup.bucket names the bucket."""
        backup = self.postgres.backup
        if backup.enabled is not None:
            return backup.enabled
        return self.cluster.mode == "eks" or backup.bucket is not None

    @model_validator(mode="after")
    def _backup_storage(self) -> "DocRagConfig":
        # eks: the stack creates and owns the bucket, key and role. existing: they are the operator's.
        backup = self.postgres.backup
        if self.cluster.mode == "eks":
            for key in ("bucket", "region", "roleArn"):
                if getattr(backup, key) is not None:
                    raise FieldError(f"postgres.backup.{key}", getattr(backup, key),
                                     "allowed only with cluster.mode existing (an eks stack creates and owns its "
                                     "bucket, KMS key and IAM role)")
            return self
        if backup.copyRegion is not None:
            raise FieldError("postgres.backup.copyRegion", backup.copyRegion,
                             "allowed only with cluster.mode eks (in existing mode the bucket is yours: set up its "
                             "replication where you manage it)")
        if self.backups:
            if backup.bucket is None:
                raise FieldError("postgres.backup.bucket", None,
                                 f"required with backups on in cluster.mode existing; allowed: {BUCKET_ALLOWED} "
                                 "(a bucket you own), or postgres.backup.enabled: false")
            if backup.region is None:
                raise FieldError("postgres.backup.region", None,
                                 f"required with postgres.backup.bucket; allowed: {REGION_ALLOWED} (the bucket's "
                                 "region)")
        return self

    @model_validator(mode="after")
    def _releases_can_render(self) -> "DocRagConfig":
        # Helm releases cannot be rendered to a directory (pulumi/pulumi-kubernetes#1716).
        if self.cluster.renderYamlTo and self.platform.any_release():
            raise FieldError(
                "platform.enabled", self.platform.enabled,
                "allowed: false with cluster.renderYamlTo (Helm releases cannot render to a directory)",
            )
        return self
