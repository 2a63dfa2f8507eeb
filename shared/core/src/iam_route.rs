//! Routes that API Gateway authorizes with IAM (SigV4): the bank's read API and
//! `POST /gopay/consents`. The function does not trust the route's configuration blindly: a
//! request that reaches it without the IAM authorizer's attestation (a route deployed without
//! `AWS_IAM` in a fork, a REST or ALB front, a local emulator) is refused with 403 before
//! anything is read or stored. There is no setting that turns this off: tests and local runs
//! hand the function an attestation, as API Gateway does after checking the signature.

use crate::callback_auth::GatewayAttestation;

/// `requestContext.authorizer.iam` of an HTTP API (payload 2.0) event: who signed the request,
/// as API Gateway's IAM authorizer established it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IamCaller {
    /// `userArn`: the IAM user or assumed role (`arn:aws:sts::<account>:assumed-role/...`).
    pub user_arn: String,
    /// `accountId`: the caller's account.
    pub account_id: String,
    /// `accessKey`: the access key id that signed the request.
    pub access_key: String,
    /// `callerId`: the principal id (may be empty).
    pub caller_id: String,
}

/// The request carries no IAM attestation: the route was reached without API Gateway's IAM
/// authorizer. The deployment, not the caller, is wrong (logged at error level). The message
/// names no attestation field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no IAM authorizer attestation on the request (the route must use AWS_IAM)")]
pub struct NoIamAttestation;

impl NoIamAttestation {
    /// Forbidden: there is no challenge a client could answer (SigV4 is checked by the gateway).
    pub const STATUS: u16 = 403;
}

/// The caller API Gateway's IAM authorizer established, or [`NoIamAttestation`] when there is
/// none or it is incomplete (no `arn:` user ARN, no access key, no 12-digit account).
pub fn require_iam_caller(gateway: &GatewayAttestation) -> Result<&IamCaller, NoIamAttestation> {
    gateway
        .iam
        .as_ref()
        .filter(|c| {
            c.user_arn.starts_with("arn:")
                && !c.access_key.trim().is_empty()
                && c.account_id.len() == 12
                && c.account_id.bytes().all(|b| b.is_ascii_digit())
        })
        .ok_or(NoIamAttestation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> IamCaller {
        IamCaller {
            user_arn: "arn:aws:sts::123456789012:assumed-role/bank-core/session".into(),
            account_id: "123456789012".into(),
            access_key: "ASIAEXAMPLE".into(),
            caller_id: "AROAEXAMPLE:session".into(),
        }
    }

    #[test]
    fn only_a_complete_iam_attestation_passes() {
        let attested = GatewayAttestation {
            iam: Some(caller()),
            ..Default::default()
        };
        assert_eq!(require_iam_caller(&attested), Ok(&caller()));
        assert_eq!(
            require_iam_caller(&GatewayAttestation::default()),
            Err(NoIamAttestation)
        );
        for broken in [
            IamCaller {
                user_arn: String::new(),
                ..caller()
            },
            IamCaller {
                user_arn: "bank-core".into(),
                ..caller()
            },
            IamCaller {
                access_key: " ".into(),
                ..caller()
            },
            IamCaller {
                account_id: "12345".into(),
                ..caller()
            },
        ] {
            let gateway = GatewayAttestation {
                iam: Some(broken.clone()),
                ..Default::default()
            };
            assert_eq!(
                require_iam_caller(&gateway),
                Err(NoIamAttestation),
                "{broken:?}"
            );
        }
        // Another kind of attestation is not an IAM one.
        let jwt_only = GatewayAttestation {
            jwt: Some(Default::default()),
            ..Default::default()
        };
        assert_eq!(require_iam_caller(&jwt_only), Err(NoIamAttestation));
    }
}
