"""Creates template.yaml's stack, after SAM's transform, in moto's CloudFormation: what it supports.

Used by tests/shipped/alarms.rs. moto's CloudFormation creates the table, the queue, the bus, the
topic, the functions, their roles and permissions, the stream trigger, the log group and the
dashboard. It has no AWS::CloudWatch::Alarm, AWS::SNS::Subscription or API Gateway v2 resources:
those are taken out (references to them stand in as their logical names) and the alarms are then
put through moto's CloudWatch API, PutMetricAlarm, with their properties as CloudFormation would
send them, so botocore checks every name and type against CloudWatch's API model and the
references resolve to the stack's real resources.

Run with the test virtualenv: .venv/bin/python scripts/template_on_moto.py TRANSFORMED.json
Prints one JSON object: the stack's status, the types created, the types moto left out, the
alarms as CloudWatch holds them and the dashboard's name.
"""

import io
import json
import re
import sys
import zipfile

import boto3
from moto import mock_aws
from moto.cloudformation.parsing import NULL_MODELS, get_model_map

REGION = "us-east-1"
STACK = "users-test"


def stand_in(value, removed):
    """`value` with every reference to a removed resource replaced by that resource's name."""
    if isinstance(value, dict):
        if value.get("Ref") in removed:
            return value["Ref"]
        attribute = value.get("Fn::GetAtt")
        if isinstance(attribute, list) and attribute[0] in removed:
            return ".".join(attribute)
        return {key: stand_in(item, removed) for key, item in value.items()}
    if isinstance(value, list):
        return [stand_in(item, removed) for item in value]
    if isinstance(value, str):
        return re.sub(
            r"\$\{([A-Za-z0-9]+)(\.[A-Za-z0-9]+)?\}",
            lambda m: m.group(1) + (m.group(2) or "") if m.group(1) in removed else m.group(0),
            value,
        )
    return value


def resolve(value, physical):
    """CloudFormation's intrinsics in an alarm's properties, against the created stack."""
    if isinstance(value, dict):
        if "Ref" in value:
            return physical.get(value["Ref"], value["Ref"])
        if "Fn::GetAtt" in value:
            name, attribute = value["Fn::GetAtt"]
            if attribute == "QueueName":
                return physical[name].rsplit("/", 1)[-1]
            raise ValueError(f"no stand-in for {name}.{attribute}")
        if "Fn::Sub" in value:
            return re.sub(
                r"\$\{([A-Za-z0-9:]+)\}",
                lambda m: STACK if m.group(1) == "AWS::StackName" else physical[m.group(1)],
                value["Fn::Sub"],
            )
        return {key: resolve(item, physical) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, physical) for item in value]
    return value


def main(path):
    with open(path) as template_file:
        template = json.load(template_file)
    supported = set(get_model_map()) | set(NULL_MODELS)
    resources = template["Resources"]
    removed = {name for name, resource in resources.items() if resource["Type"] not in supported}
    kept = {name: r for name, r in resources.items() if name not in removed}
    body = dict(template, Resources=stand_in(kept, removed))
    body["Outputs"] = stand_in(template.get("Outputs", {}), removed)

    with mock_aws():
        # What `sam package` would have uploaded for the functions' code.
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("bootstrap", "")
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="placeholder")
        s3.put_object(Bucket="placeholder", Key="bootstrap.zip", Body=code.getvalue())

        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(body),
            Capabilities=["CAPABILITY_IAM"],
            Parameters=[{"ParameterKey": "AlarmEmail", "ParameterValue": "ops@example.com"}],
        )
        status = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
        summaries = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}

        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        for name, alarm in resources.items():
            if alarm["Type"] == "AWS::CloudWatch::Alarm":
                cloudwatch.put_metric_alarm(**resolve(alarm["Properties"], physical))
        alarms = cloudwatch.describe_alarms()["MetricAlarms"]
        dashboards = cloudwatch.list_dashboards()["DashboardEntries"]
        print(
            json.dumps(
                {
                    "status": status,
                    "created": sorted({r["ResourceType"] for r in summaries}),
                    "left_out": sorted({resources[name]["Type"] for name in removed}),
                    "alarms": alarms,
                    "dashboards": [d["DashboardName"] for d in dashboards],
                },
                default=str,
            )
        )


if __name__ == "__main__":
    main(sys.argv[1])
