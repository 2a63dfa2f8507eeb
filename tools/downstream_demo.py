"""make demo, downstream section: what moto does not do for us (it invokes no Lambda from a
DynamoDB stream, and an EventBridge bus keeps nothing to read back).

  setup              create the bus ($EVENT_BUS_NAME) and a consumer: a rule sending every
                     kyc-hooks state event to an SQS queue
  records FILE       write every record of the table's stream so far, as the Lambda event
                     AWS would hand the state publisher ({"Records": [...]})
  received           print the events the consumer queue got, one line each
"""

import json
import os
import sys

import boto3

endpoint = os.environ["AWS_ENDPOINT_URL"]
table = os.environ.get("TABLE_NAME", "kyc-hooks")
bus = os.environ["EVENT_BUS_NAME"]
QUEUE = "kyc-hooks-demo-consumer"
ERASURES = "kyc-hooks-demo-erasures"


def setup():
    events = boto3.client("events", endpoint_url=endpoint)
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    events.create_event_bus(Name=bus)
    url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["kyc-hooks"], "detail-type": ["KYC state changed"]}
    events.put_rule(Name="demo-consumer", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="demo-consumer", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    # A second consumer: erasures (kyc erase), to erase its own copies.
    url = sqs.create_queue(QueueName=ERASURES)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["kyc-hooks"], "detail-type": ["KYC customer erased"]}
    events.put_rule(Name="demo-erasures", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="demo-erasures", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])


def records(path):
    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint)
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    out = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            page = streams.get_records(ShardIterator=it)
            out.extend(page["Records"])
            it = page.get("NextShardIterator") if page["Records"] else None
    for r in out:
        # boto3 parsed the time; AWS hands Lambda epoch seconds.
        r["dynamodb"]["ApproximateCreationDateTime"] = r["dynamodb"]["ApproximateCreationDateTime"].timestamp()
    with open(path, "w") as f:
        json.dump({"Records": out}, f)
    print(f"   {len(out)} stream records", file=sys.stderr)


def received():
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return
        for m in msgs:
            d = json.loads(m["Body"])["detail"]
            print(f"   {d['customerId']:<18} {d['provider']:<10} {d['stream'][:28]:<28} "
                  f"{str(d['previousStatus']):>14} -> {d['status']:<16} final={str(d['final']).lower():<5} "
                  f"v{d['stateVersion']} cause={d['causeEventId'][:24]} id={d['id'][:12]}")
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def erased():
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    url = sqs.get_queue_url(QueueName=ERASURES)["QueueUrl"]
    for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        e = json.loads(m["Body"])
        d = e["detail"]
        print(f"   {e['detail-type']}: {d['customerId']} reason={d['reason']} providers={d['providers']} "
              f"retentionOverridden={str(d['retentionOverridden']).lower()} dropUntil={d['dropUntil'][:10]} id={d['id'][:12]}")
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


if __name__ == "__main__":
    cmd = sys.argv[1]
    {"setup": setup, "received": received, "erased": erased}.get(cmd, lambda: records(sys.argv[2]))()
