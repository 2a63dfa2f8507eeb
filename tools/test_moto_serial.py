"""tools/moto_serial.py's two speed-ups keep DynamoDB's behaviour.

The journaled TransactWriteItems keeps the all-or-nothing rule; the partition Query returns what a
Query must (the partition's items in key order, paged, filtered by the key condition).

Run by `make style` (part of `make test`): python tools/test_moto_serial.py
Each case runs against moto in-process with both installed: a cancelled transaction leaves every
item and the table's stream as they were, no table is copied, and a Query reads the answer a
Scan filtered by hand gives.
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


class MotoCase(unittest.TestCase):
    """moto in-process with both speed-ups installed, and one table `t` (pk, sk) with a
    stream and a keys-only index `GSI` on (g, sk)."""

    def setUp(self) -> None:
        moto_serial.install_journaled_transactions()
        moto_serial.install_partition_queries()
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
                {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "g")
            ],
            GlobalSecondaryIndexes=[{
                "IndexName": "GSI",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                              {"AttributeName": "sk", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )

    def tearDown(self) -> None:
        self.mock.stop()


class JournaledTransactions(MotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.ddb.put_item(TableName=TABLE, Item={"pk": s("A"), "sk": s("1"), "v": s("old")})
        self.ddb.put_item(TableName=TABLE, Item={"pk": s("B"), "sk": s("1"), "v": s("taken")})

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


class PartitionQueries(MotoCase):
    def setUp(self) -> None:
        super().setUp()
        # Written out of order, in three partitions, so that key order is the query's doing.
        for n in (7, 3, 11, 1, 5, 9, 2):
            for pk in ("CUSTOMER#b", "CUSTOMER#a", "EVENT#x"):
                item = {"pk": s(pk), "sk": s(f"HIST#{n:03}"), "g": s(f"G#{n % 2}")}
                self.ddb.put_item(TableName=TABLE, Item=item)
            self.ddb.put_item(TableName=TABLE, Item={"pk": s("CUSTOMER#a"), "sk": s(f"STATE#{n:03}")})

    def by_hand(self, pk: str, prefix: str = "", forward: bool = True) -> list:
        rows = [(i["pk"]["S"], i["sk"]["S"]) for i in self.ddb.scan(TableName=TABLE)["Items"]]
        return sorted((r for r in rows if r[0] == pk and r[1].startswith(prefix)), reverse=not forward)

    def query_all(self, **kwargs: object) -> list:
        out, start = [], None
        while True:
            page = self.ddb.query(TableName=TABLE, **kwargs, **({"ExclusiveStartKey": start} if start else {}))
            out += [(i["pk"]["S"], i["sk"]["S"]) for i in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                return out

    def test_a_query_reads_its_partition_in_key_order_across_pages(self) -> None:
        for pk in ("CUSTOMER#a", "CUSTOMER#b", "EVENT#x"):
            for forward in (True, False):
                got = self.query_all(
                    KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": s(pk)},
                    ScanIndexForward=forward,
                    Limit=3,
                )
                self.assertEqual(got, self.by_hand(pk, forward=forward), (pk, forward))

    def test_a_key_condition_on_the_sort_key_still_applies(self) -> None:
        got = self.query_all(
            KeyConditionExpression="pk = :p AND begins_with(sk, :h)",
            ExpressionAttributeValues={":p": s("CUSTOMER#a"), ":h": s("HIST#")},
        )
        self.assertEqual(got, self.by_hand("CUSTOMER#a", "HIST#"))
        self.assertEqual(len(got), 7)

    def test_a_partition_that_does_not_exist_is_empty(self) -> None:
        got = self.query_all(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": s("NOBODY")})
        self.assertEqual(got, [])

    def test_an_index_query_is_left_to_moto(self) -> None:
        page = self.ddb.query(
            TableName=TABLE, IndexName="GSI", KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": s("G#1")},
        )
        self.assertEqual(page["Count"], 3 * 6)  # six odd n, in each of three partitions


if __name__ == "__main__":
    unittest.main()
