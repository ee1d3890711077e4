"""The ACM certificate the NLB terminates TLS with. DNS-validated; the records to create are outputs."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import pulumi
import pulumi_aws as aws


def _records(options: Optional[Sequence[Any]]) -> list[dict[str, str]]:
    return [
        {"name": o.resource_record_name, "type": o.resource_record_type, "value": o.resource_record_value}
        for o in options or []
    ]


class Certificate(pulumi.ComponentResource):
    """The DNS zone is not managed here, so no validation resource waits on it: whoever owns the zone adds
    `validationRecords`, and ACM issues the certificate once they resolve."""

    def __init__(self, name: str, domain: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("doc-rag:certificate:Certificate", name, None, opts)
        self.certificate = aws.acm.Certificate(
            f"{name}-acm", domain_name=domain, validation_method="DNS",
            tags={"Name": domain}, opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn: pulumi.Output[str] = self.certificate.arn
        self.validation_records: pulumi.Output[list[dict[str, str]]] = (
            self.certificate.domain_validation_options.apply(_records)
        )
        self.register_outputs({"arn": self.arn, "validationRecords": self.validation_records})
