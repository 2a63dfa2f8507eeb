//! Namirial Trust & Sign client-file archives (report.json V6). Pure: no AWS types.
