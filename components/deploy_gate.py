"""What a config may plan but not deploy, and refusing it where the engine really deploys.

A stack file can be complete and valid and still be a template: a reserved domain ACM can never validate,
a documentation address where the runner's egress CIDR belongs, a private API no runner can reach. The
offline plan reports these as blockers (plan.json `blockers`) and passes, so a template can be reviewed;
`pulumi preview` warns; `pulumi up` refuses before it registers anything, naming the key and what is
allowed. Under the SDK's mock monitor (the offline plan, the tests) nothing is deployed and nothing is
refused here.
"""

from __future__ import annotations

import ipaddress
import shutil
from typing import Optional

import pulumi

from components.config import ConfigError, DocRagConfig
from components.platform import INGRESS_CLASS

# RFC 2606 / RFC 6761: names no registry delegates, so no ACM DNS validation and no ACME order can succeed.
RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
RESERVED_TLDS = ("example", "test", "invalid", "localhost")
# RFC 5737 documentation ranges: placeholders, never a runner's address.
DOCUMENTATION_NETWORKS = tuple(ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
FIRST_DEPLOY_DOCS = "docs/cluster.md \"First deploy\""


def reserved_domain(domain: str) -> bool:
    name = domain.lower().rstrip(".")
    return name.rsplit(".", 1)[-1] in RESERVED_TLDS or any(
        name == reserved or name.endswith(f".{reserved}") for reserved in RESERVED_DOMAINS)


def _documentation_range(cidr: str) -> bool:
    network = ipaddress.IPv4Network(cidr)
    return any(network.overlaps(documentation) for documentation in DOCUMENTATION_NETWORKS)


def edge_blockers(config: DocRagConfig) -> list[str]:
    """The ClusterIssuer solves HTTP-01 through ingress-nginx's IngressClass: another edge gets no certificate,
    and its gateway's HTTPS listener would have no Secret to serve (docs/traffic.md "The public edge")."""
    if config.traffic.edge == "nginx" or not config.platform.enabled:
        return []
    return [f"traffic.edge = {config.traffic.edge!r}: the gateway's TLS certificate is issued by HTTP-01 through "
            f"the {INGRESS_CLASS!r} IngressClass, which runs only with the nginx edge, so its HTTPS listener would "
            "have no certificate; allowed: nginx until the issuer solves through the chosen edge"]


def deploy_blockers(config: DocRagConfig) -> list[str]:
    """Problems `pulumi up` refuses and the offline plan only reports (eks stacks: what AWS would do)."""
    cluster = config.cluster
    problems = edge_blockers(config)
    if cluster.mode != "eks":
        return problems
    if reserved_domain(config.domain):
        problems.append(
            f"domain = {config.domain!r}: a reserved name (RFC 2606/6761) that ACM can never validate and "
            "Let's Encrypt refuses; allowed: a domain you own (its Route 53 zone in cluster.route53ZoneId, or "
            "publish the certificate's validation records)")
    for key, cidrs in (("endpointPublicAccessCidrs", cluster.endpointPublicAccessCidrs),
                       ("apiAccessCidrs", cluster.apiAccessCidrs)):
        for cidr in cidrs:
            if _documentation_range(cidr):
                problems.append(
                    f"cluster.{key} holds {cidr!r}: a documentation range (RFC 5737), i.e. a placeholder; "
                    f"allowed: the egress CIDRs of the machines that run `pulumi up` ({FIRST_DEPLOY_DOCS})")
    if not cluster.endpointPublicAccess and not cluster.apiAccessCidrs and not cluster.apiAccessSecurityGroupIds:
        problems.append(
            "cluster.endpointPublicAccess = false with no cluster.apiAccessCidrs or cluster.apiAccessSecurityGroupIds: "
            "no runner can reach the private Kubernetes API, so every Kubernetes object of `pulumi up` would time "
            "out; allowed: a CIDR-restricted public endpoint for the first deploy, or the networks / security "
            f"groups of your runners and VPN ({FIRST_DEPLOY_DOCS})")
    return problems


def runner_blockers(config: DocRagConfig) -> list[str]:
    """What the machine running `pulumi up` lacks (never part of the plan: it describes this machine)."""
    if config.cluster.mode == "eks" and shutil.which("aws") is None:
        return ["the AWS CLI (`aws`) is not on PATH: the Kubernetes provider authenticates to EKS with "
                "`aws eks get-token`; allowed: install AWS CLI v2 on the machine that runs `pulumi`"]
    return []


def duplicate_admin(admin_arns: list[str], caller_arn: str) -> Optional[str]:
    """EKS gives the principal that creates the cluster an access entry of its own
    (bootstrapClusterCreatorAdminPermissions); a second one for it fails with ResourceInUseException."""
    def identity(arn: str) -> tuple[str, str, str]:
        account, resource = arn.split(":")[4], arn.split(":", 5)[5]
        return account, resource.split("/", 1)[0], resource.rsplit("/", 1)[-1]  # a path is not part of who it is

    for index, arn in enumerate(admin_arns):
        if identity(arn) == identity(caller_arn):
            return (f"cluster.adminPrincipalArns[{index}] = {arn!r} is the principal running `pulumi` "
                    f"({caller_arn}): EKS already gives it cluster-admin as the cluster's creator, and a second "
                    "access entry fails with ResourceInUseException; allowed: the other principals")
    return None


def deploying_principal() -> str:
    """The IAM role or user behind the AWS provider's credentials (an assumed role's role, not its session)."""
    import pulumi_aws as aws

    caller = aws.get_caller_identity().arn
    return aws.iam.get_session_context(arn=caller).issuer_arn if ":assumed-role/" in caller else caller


def _mocked() -> bool:
    from pulumi.runtime import settings
    from pulumi.runtime.mocks import MockMonitor

    return isinstance(settings.get_monitor(), MockMonitor)


def refuse_undeployable(config: DocRagConfig) -> None:
    """Before any resource: `pulumi up` raises ConfigError on every blocker, `pulumi preview` warns about the
    placeholders and raises on a wrong admin principal (an error in any phase)."""
    if _mocked():
        return
    problems = deploy_blockers(config) + runner_blockers(config)
    if config.cluster.mode == "eks" and config.cluster.adminPrincipalArns:
        duplicate = duplicate_admin(config.cluster.adminPrincipalArns, deploying_principal())
        if duplicate:
            raise ConfigError([duplicate])
    if not problems:
        return
    if not pulumi.runtime.is_dry_run():
        raise ConfigError(problems)
    for problem in problems:
        pulumi.log.warn(f"`pulumi up` will refuse this stack: {problem}")
