"""Prints template.yaml as CloudFormation after SAM's own transform, as JSON, offline.

Used by tests/shipped/template.rs to check what `sam deploy` would create (per-route authorization, for
one) rather than what the template's shorthand suggests. The functions' CodeUri is replaced by a
placeholder S3 URI, which is what `sam package` would put there; nothing else changes.
Run with the SAM CLI's virtualenv: .venv-sam/bin/python scripts/sam_transform.py template.yaml
"""

import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no AWS managed policies, so there is nothing to look up."""

    def load(self):
        return {}


def main(path):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(path) as template_file:
        template = yaml_parse(template_file.read())
    template["Globals"]["Function"]["CodeUri"] = "s3://placeholder/bootstrap.zip"
    parameters = {"StageName": "$default"}
    print(json.dumps(transform(template, parameters, NoManagedPolicies()), default=str))


if __name__ == "__main__":
    main(sys.argv[1])
