"""The journaled TransactWriteItems of tools/moto_serial.py keeps DynamoDB's all-or-nothing rule.

Run by `make style` (part of `make test`): python tools/test_moto_serial.py
Each case runs against moto in-process with the journal installed: a cancelled transaction leaves
every item and the table's stream as they were, and no table is copied.
"""

import os
import sys
import unittest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-3")

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto import mock_aws  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moto_serial  # noqa: E402

TABLE = "t"


def s(value: str) -> dict:
    return {"S": value}


class JournaledTransactions(unittest.TestCase):
    def setUp(self) -> None:
        moto_serial.install_journaled_transactions()
        self.mock = mock_aws()
        self.mock.start()
        self.ddb = boto3.client("dynamodb")
        self.ddb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        self.ddb.put_item(TableName=TABLE, Item={"pk": s("A"), "sk": s("1"), "v": s("old")})
        self.ddb.put_item(TableName=TABLE, Item={"pk": s("B"), "sk": s("1"), "v": s("taken")})

    def tearDown(self) -> None:
        self.mock.stop()

    def items(self) -> list:
        return sorted(
            (i["pk"]["S"], i["sk"]["S"], i.get("v", {}).get("S"))
            for i in self.ddb.scan(TableName=TABLE)["Items"]
        )

    def stream_records(self) -> int:
        streams = boto3.client("dynamodbstreams")
        arn = self.ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        return len(streams.get_records(ShardIterator=iterator)["Records"])

    def test_a_failed_condition_undoes_the_writes_before_it(self) -> None:
        before, records = self.items(), self.stream_records()
        with self.assertRaises(ClientError) as raised:
            self.ddb.transact_write_items(
                TransactItems=[
                    {"Update": {"TableName": TABLE, "Key": {"pk": s("A"), "sk": s("1")},
                                "UpdateExpression": "SET v = :n",
                                "ExpressionAttributeValues": {":n": s("new")}}},
                    {"Put": {"TableName": TABLE, "Item": {"pk": s("C"), "sk": s("1"), "v": s("c")}}},
                    {"Delete": {"TableName": TABLE, "Key": {"pk": s("A"), "sk": s("2")}}},
                    {"Put": {"TableName": TABLE, "Item": {"pk": s("B"), "sk": s("1"), "v": s("mine")},
                             "ConditionExpression": "attribute_not_exists(pk)"}},
                ]
            )
        self.assertEqual(raised.exception.response["Error"]["Code"], "TransactionCanceledException")
        self.assertEqual(self.items(), before)
        self.assertEqual(self.stream_records(), records)

    def test_a_failed_condition_first_writes_nothing(self) -> None:
        before = self.items()
        with self.assertRaises(ClientError):
            self.ddb.transact_write_items(
                TransactItems=[
                    {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": s("B"), "sk": s("1")},
                                        "ConditionExpression": "attribute_not_exists(pk)"}},
                    {"Delete": {"TableName": TABLE, "Key": {"pk": s("A"), "sk": s("1")}}},
                ]
            )
        self.assertEqual(self.items(), before)

    def test_a_transaction_that_passes_writes_everything(self) -> None:
        self.ddb.transact_write_items(
            TransactItems=[
                {"Update": {"TableName": TABLE, "Key": {"pk": s("A"), "sk": s("1")},
                            "UpdateExpression": "SET v = :n",
                            "ExpressionAttributeValues": {":n": s("new")}}},
                {"Put": {"TableName": TABLE, "Item": {"pk": s("C"), "sk": s("1"), "v": s("c")},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Delete": {"TableName": TABLE, "Key": {"pk": s("B"), "sk": s("1")}}},
            ]
        )
        self.assertEqual(self.items(), [("A", "1", "new"), ("C", "1", "c")])

    def test_the_table_is_not_copied(self) -> None:
        from moto.dynamodb.models.table import Table

        def refuse(table: Table, memo: dict) -> None:
            raise AssertionError("the whole table was copied")

        Table.__deepcopy__ = refuse  # type: ignore[attr-defined]
        try:
            self.ddb.transact_write_items(
                TransactItems=[{"Put": {"TableName": TABLE, "Item": {"pk": s("D"), "sk": s("1")}}}]
            )
        finally:
            del Table.__deepcopy__
        self.assertIn(("D", "1", None), self.items())


if __name__ == "__main__":
    unittest.main()
