//! DynamoDB and S3 adapters (written next).
