//! Wiring of the Trust & Sign archive Lambda: S3 `ObjectCreated` records become
//! [`Notification`]s for `kyc_trust_sign::processor::Processor` (the orchestration,
//! behind ports), built on AWS by `kyc_trust_sign::aws::build_processor`.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

pub use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
pub use kyc_trust_sign::processor::Notification;

/// The records of an S3 event, as the processor reads them.
pub fn notifications(event: &S3Event) -> Vec<Notification> {
    event
        .records
        .iter()
        .map(|r| Notification {
            event_name: r.event_name.clone(),
            bucket: r.s3.bucket.name.clone(),
            key: r.s3.object.key.clone(),
            version_id: r.s3.object.version_id.clone(),
            etag: r.s3.object.e_tag.clone(),
            size: r.s3.object.size,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kyc_trust_sign::processor::decode_key;

    #[test]
    fn the_sample_event_maps_to_a_notification_whose_key_decodes() {
        let e: S3Event =
            serde_json::from_str(include_str!("../../../events/s3-trust-sign-archive.json"))
                .unwrap();
        let n = &notifications(&e)[0];
        let key = decode_key(n.key.as_deref().unwrap()).unwrap();
        assert_eq!(key, "incoming/dossier 89eb482c (juin).zip");
        assert!(n.version_id.is_some() && n.etag.is_some() && n.size.is_some());
        assert_eq!(n.event_name.as_deref(), Some("ObjectCreated:Put"));
        assert!(n.bucket.is_some());
    }
}
