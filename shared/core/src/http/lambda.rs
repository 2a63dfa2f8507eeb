//! The one conversion between API Gateway (through `lambda_http`) and our plain
//! [`HttpRequest`]/[`HttpResponse`], for every HTTP function.

use super::{HttpRequest, HttpResponse};
use crate::callback_auth::{ClientCertificate, GatewayAttestation, JwtClaims};
use crate::iam_route::IamCaller;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

/// Method, raw path and query, headers (those that are text), body, the caller's IP as API
/// Gateway saw it and what the gateway attests (JWT authorizer claims, mTLS client
/// certificate, IAM caller) (HTTP API 2.0 events; any other event attests nothing).
pub fn request(request: &Request) -> HttpRequest {
    let context = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => Some(ctx),
        _ => None,
    };
    let source_ip = context
        .and_then(|ctx| ctx.http.source_ip.as_deref())
        .and_then(|ip| ip.parse().ok());
    let gateway = GatewayAttestation {
        jwt: context
            .and_then(|ctx| ctx.authorizer.as_ref())
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| JwtClaims {
                claims: jwt
                    .claims
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                scopes: jwt.scopes.clone().unwrap_or_default(),
            }),
        client_certificate: context
            .and_then(|ctx| ctx.authentication.as_ref())
            .and_then(|a| a.client_cert.as_ref())
            .map(|cert| ClientCertificate {
                subject_dn: cert.subject_dn.clone().unwrap_or_default(),
                issuer_dn: cert.issuer_dn.clone().unwrap_or_default(),
            }),
        iam: context
            .and_then(|ctx| ctx.authorizer.as_ref())
            .and_then(|a| a.iam.as_ref())
            .map(|iam| IamCaller {
                user_arn: iam.user_arn.clone().unwrap_or_default(),
                account_id: iam.account_id.clone().unwrap_or_default(),
                access_key: iam.access_key.clone().unwrap_or_default(),
                caller_id: iam.caller_id.clone().unwrap_or_default(),
            }),
    };
    HttpRequest {
        method: request.method().as_str().to_string(),
        path: request.uri().path().to_string(),
        headers: request
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_string(), v.to_string()))
            })
            .collect(),
        body: request.body().to_vec(),
        query: request.uri().query().unwrap_or("").to_string(),
        source_ip,
        gateway,
    }
}

/// Our response as API Gateway's.
pub fn response(answer: HttpResponse) -> Result<Response<Body>, lambda_http::http::Error> {
    let mut builder = Response::builder().status(answer.status);
    for (name, value) in answer.headers {
        builder = builder.header(name, value);
    }
    builder.body(Body::Text(answer.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_gateway_event_becomes_our_request_and_our_answer_its_response() {
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/customers/a%2Db/kyc",
            "rawQueryString": "limit=2", "headers": {"X-Test": "yes"},
            "requestContext": {"http": {"method": "POST", "path": "/customers/a%2Db/kyc",
                "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "t"},
                "accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d",
                "requestId": "r", "routeKey": "$default", "stage": "$default",
                "time": "27/Nov/2026:10:00:00 +0000", "timeEpoch": 0},
            "body": "hello", "isBase64Encoded": false
        });
        let lambda_request = lambda_http::request::from_str(&event.to_string()).unwrap();
        let req = request(&lambda_request);
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/customers/a%2Db/kyc");
        assert_eq!(req.query, "limit=2");
        assert_eq!(req.header("x-test"), Some("yes"));
        assert_eq!(req.body, b"hello");
        assert_eq!(req.source_ip, Some("203.0.113.7".parse().unwrap()));

        let answer = HttpResponse::json(409, serde_json::json!({"error": "conflict"}))
            .with_header("cache-control", "no-store");
        let resp = response(answer).unwrap();
        assert_eq!(resp.status(), 409);
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert!(matches!(resp.body(), Body::Text(t) if t == r#"{"error":"conflict"}"#));
        assert_eq!(req.gateway.iam, None, "no authorizer, no IAM caller");
    }

    /// What API Gateway's IAM authorizer adds (HTTP API, payload 2.0), as the route receives it.
    #[test]
    fn the_iam_authorizers_attestation_reaches_our_request() {
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "GET /customers/{id}/kyc", "rawPath": "/customers/c-1/kyc",
            "rawQueryString": "", "headers": {},
            "requestContext": {"http": {"method": "GET", "path": "/customers/c-1/kyc",
                "protocol": "HTTP/1.1", "sourceIp": "10.0.0.7", "userAgent": "t"},
                "authorizer": {"iam": {"accessKey": "ASIAEXAMPLE", "accountId": "123456789012",
                    "callerId": "AROAEXAMPLE:core", "cognitoIdentity": null, "principalOrgId": null,
                    "userArn": "arn:aws:sts::123456789012:assumed-role/bank-core/core",
                    "userId": "AROAEXAMPLE:core"}},
                "accountId": "123456789012", "apiId": "a", "domainName": "d", "domainPrefix": "d",
                "requestId": "r", "routeKey": "GET /customers/{id}/kyc", "stage": "$default",
                "time": "27/Nov/2026:10:00:00 +0000", "timeEpoch": 0},
            "isBase64Encoded": false
        });
        let req = request(&lambda_http::request::from_str(&event.to_string()).unwrap());
        let caller = crate::iam_route::require_iam_caller(&req.gateway).expect("attested");
        assert_eq!(
            caller.user_arn,
            "arn:aws:sts::123456789012:assumed-role/bank-core/core"
        );
        assert_eq!(caller.account_id, "123456789012");
        assert_eq!(caller.access_key, "ASIAEXAMPLE");
        assert_eq!(caller.caller_id, "AROAEXAMPLE:core");
    }
}
