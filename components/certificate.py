"""The ACM certificate the NLB terminates TLS with, in one of three modes (ClusterConfig):

- `certificateArn` set: an existing certificate; nothing is created here.
- `route53ZoneId` set: a DNS-validated ACM certificate, its validation record in that hosted zone, and an
  `aws.acm.CertificateValidation` that waits until ACM has issued it. `arn` is the validation's ARN, so
  nothing downstream (the NLB) uses the certificate before it is issued.
- neither: the certificate and its validation records as outputs; whoever owns the zone adds them. The NLB
  cannot use the certificate until they resolve (docs/cluster.md: the two-phase first deploy).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import pulumi
import pulumi_aws as aws

VALIDATION_TTL = 60


def _records(options: Optional[Sequence[Any]]) -> list[dict[str, str]]:
    return [
        {"name": o.resource_record_name, "type": o.resource_record_type, "value": o.resource_record_value}
        for o in options or []
    ]


class Certificate(pulumi.ComponentResource):
    arn: pulumi.Output[str]  # usable by the NLB: issued (zone mode), given (existing), or pending (records mode)
    validation_records: Optional[pulumi.Output[list[dict[str, str]]]] = None  # records mode only
    validated: bool  # does `arn` wait for issuance?

    def __init__(self, name: str, domain: str, *, existing_arn: Optional[str] = None,
                 route53_zone_id: Optional[str] = None, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("doc-rag:certificate:Certificate", name, None, opts)
        if existing_arn:
            self.arn = pulumi.Output.from_input(existing_arn)
            self.validated = True
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
            self.validated = True
        else:
            self.arn = self.certificate.arn
            self.validation_records = records
            self.validated = False
        self.register_outputs({"arn": self.arn, "validationRecords": self.validation_records})
