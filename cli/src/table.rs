//! `--output table`: the reports a person reads (`kyc status`, `kyc history`) as aligned
//! columns. Only fields already in the JSON report are shown, so nothing sealed appears.

use serde_json::Value;

/// The report as a table; a report of another shape stays JSON.
pub fn render(report: &Value) -> String {
    if let Some(providers) = report.get("providers").and_then(Value::as_object) {
        // `kyc status`: the decision first, on one line.
        let first = match report.get("decision") {
            None => String::new(),
            Some(Value::Null) => "DECISION  none yet\n".to_string(),
            Some(d) => format!(
                "DECISION  {}  reasons: {}  policy {}  version {}\n",
                text(&d["decision"]),
                d["reasons"]
                    .as_array()
                    .filter(|r| !r.is_empty())
                    .map(|r| r.iter().map(text).collect::<Vec<_>>().join(","))
                    .unwrap_or_else(|| "-".into()),
                text(&d["policyVersion"]),
                text(&d["decisionVersion"]),
            ),
        };
        let rows = providers.iter().flat_map(|(provider, streams)| {
            streams
                .as_object()
                .into_iter()
                .flatten()
                .map(move |(stream, v)| {
                    vec![
                        provider.clone(),
                        stream.clone(),
                        text(&v["status"]),
                        text(&v["final"]),
                        text(&v["at"]),
                        text(&v["eventId"]),
                    ]
                })
        });
        return first
            + &columns(
                &["PROVIDER", "STREAM", "STATUS", "FINAL", "AT", "EVENT"],
                rows,
            );
    }
    if let Some(history) = report.get("history").and_then(Value::as_array) {
        let rows = history.iter().map(|e| {
            vec![
                text(&e["receivedAt"]),
                text(&e["provider"]),
                text(&e["eventType"]),
                text(&e["outcome"]),
                text(&e["eventId"]),
            ]
        });
        return columns(&["RECEIVED", "PROVIDER", "TYPE", "OUTCOME", "EVENT"], rows);
    }
    format!("{report:#}\n")
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn columns(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = rows.collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header = header.iter().map(|h| h.to_string()).collect();
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_status_report_is_one_row_per_stream_without_details_or_sealed_values() {
        let report = json!({"customer": "c-1", "providers": {"xpollens": {
            "kycDemand": {"status": "Complete", "final": true, "at": "2026-11-12T09:20:00Z",
                          "eventId": "ev-1", "detail": {"iban": "FR76..."}, "sealedSecrets": ["iban"]},
            "userRecord": {"status": "InProgress", "final": false, "at": null, "eventId": "ev-2"}}}});
        let out = render(&report);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].starts_with("PROVIDER  STREAM"), "{out}");
        assert!(
            lines[1].contains("kycDemand") && lines[1].contains("Complete"),
            "{out}"
        );
        assert!(
            lines[2].contains("InProgress") && lines[2].contains(" - "),
            "{out}"
        );
        assert!(!out.contains("FR76"), "{out}");
        // Columns line up: every row's STATUS starts where the header's does.
        let at = lines[0].find("STATUS").unwrap();
        assert!(lines[1][at..].starts_with("Complete"), "{out}");
    }

    #[test]
    fn a_history_report_is_one_row_per_entry() {
        let report = json!({"customer": "c-1", "history": [
            {"receivedAt": "2026-11-12T09:20:01Z", "provider": "gopay", "eventType": "consent",
             "outcome": "applied", "eventId": "ev-9", "summary": {"x": 1}}]});
        let out = render(&report);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(out.lines().nth(1).unwrap().contains("applied"), "{out}");
    }
}
