"""The ACM certificate the NLB terminates TLS with, in one of three modes (ClusterConfig):

- `certificateArn` set: an existing certificate; nothing is created here.
- `route53ZoneId` set: a DNS-validated ACM certificate, its validation record in that hosted zone, and an
  `aws.acm.CertificateValidation` that waits until ACM has issued it.
- neither: the certificate, its validation records (a stack output, and printed by `pulumi up` as soon as
  ACM names them), and a CertificateValidation that waits up to ISSUE_TIMEOUT for whoever owns the zone to
  publish them (docs/cluster.md: the first deploy).

In every mode `arn` is usable only once the certificate is issued, so the NLB, which depends on it, is
never handed a pending certificate (its listener would fail until the Service's await gave up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_aws as aws

VALIDATION_TTL = 60
# How long a first `pulumi up` without route53ZoneId waits for the validation records to be published.
ISSUE_TIMEOUT = "2h"


def _records(options: Optional[Sequence[Any]]) -> list[dict[str, str]]:
    return [
        {"name": o.resource_record_name, "type": o.resource_record_type, "value": o.resource_record_value}
        for o in options or []
    ]


@dataclass
class CertificateArgs:
    domain: str
    existing_arn: Optional[str] = None  # cluster.certificateArn: use it, issue nothing
    route53_zone_id: Optional[str] = None  # cluster.route53ZoneId: validate in that zone, else output the records


class Certificate(pulumi.ComponentResource):
    arn: pulumi.Output[str]  # usable by the NLB: given (existing) or issued (the other two modes)
    validation_records: Optional[pulumi.Output[list[dict[str, str]]]] = None  # records mode only

    def __init__(self, name: str, args: CertificateArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("doc-rag:certificate:Certificate", name, None, opts)
        domain, existing_arn, route53_zone_id = args.domain, args.existing_arn, args.route53_zone_id
        if existing_arn:
            self.arn = pulumi.Output.from_input(existing_arn)
            self.register_outputs({"arn": self.arn})
            return

        self.certificate = aws.acm.Certificate(
            f"{name}-acm", domain_name=domain, validation_method="DNS",
            tags={"Name": domain}, opts=pulumi.ResourceOptions(parent=self),
        )
        records = self.certificate.domain_validation_options.apply(_records)
        if route53_zone_id:
            # `domain` is one name without SANs, so ACM asks for exactly one record.
            record = aws.route53.Record(
                f"{name}-validation",
                zone_id=route53_zone_id,
                name=records.apply(lambda found: found[0]["name"]),
                type=records.apply(lambda found: found[0]["type"]),
                records=[records.apply(lambda found: found[0]["value"])],
                ttl=VALIDATION_TTL,
                allow_overwrite=True,  # ACM reuses the same record name for a re-issued certificate
                opts=pulumi.ResourceOptions(parent=self),
            )
            validation = aws.acm.CertificateValidation(
                f"{name}-validation",
                certificate_arn=self.certificate.arn,
                validation_record_fqdns=[record.fqdn],
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.arn = validation.certificate_arn
        else:
            records.apply(lambda found: _ask_for(domain, found))
            issued = aws.acm.CertificateValidation(
                f"{name}-issued",
                certificate_arn=self.certificate.arn,
                opts=pulumi.ResourceOptions(parent=self, custom_timeouts=pulumi.CustomTimeouts(create=ISSUE_TIMEOUT)),
            )
            self.arn = issued.certificate_arn
            self.validation_records = records
        self.register_outputs({"arn": self.arn, "validationRecords": self.validation_records})


def _ask_for(domain: str, records: list[dict[str, str]]) -> None:
    """Shown while `pulumi up` waits: the stack outputs are written only when the update ends."""
    wanted = "; ".join(f"{r['name']} {r['type']} {r['value']}" for r in records)
    pulumi.log.info(f"publish in the DNS zone of {domain}: {wanted} -- the NLB is created once ACM has issued "
                    f"the certificate (this update waits up to {ISSUE_TIMEOUT})")
