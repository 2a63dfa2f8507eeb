use super::*;
use chrono::TimeZone;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap()
}

fn item(v: Value) -> Item {
    v.as_object().unwrap().clone()
}

fn stream(ord: i64, status: &str, event: &str) -> Value {
    json!({"ord": ord, "status": status, "eventId": event, "final": false,
           "at": "2026-11-01T09:00:00Z", "rank": 1, "detail": null, "sealed": {}})
}

/// A table as the release before provider-scoped keys left it: every kind of old item, for
/// two customers (one whose id holds the separator), and the items whose keys never change.
fn old_table() -> MemoryTableItems {
    let t = MemoryTableItems::default();
    for v in [
        json!({"PK": "EVENT#xpollens#wh-1", "SK": "EVENT", "provider": "xpollens", "eventId": "wh-1",
               "subject": "alice", "bodySha256": "aa"}),
        json!({"PK": "EVENT#gopay#gp:1", "SK": "EVENT", "provider": "gopay", "eventId": "gp:1",
               "subject": "h5#STATE#gopay", "bodySha256": "bb"}),
        json!({"PK": "CUSTOMER#alice", "SK": "HIST#2026-11-01T09:00:00.000000Z#xpollens#wh-1",
               "provider": "xpollens", "eventId": "wh-1", "receivedAt": "2026-11-01T09:00:00Z"}),
        json!({"PK": "CUSTOMER#h5#STATE#gopay", "SK": "HIST#2026-11-01T10:00:00.000000Z#gopay#gp:1",
               "provider": "gopay", "eventId": "gp:1", "receivedAt": "2026-11-01T10:00:00Z"}),
        json!({"PK": "CUSTOMER#alice", "SK": "STATE#xpollens", "version": 3,
               "kycDemand": stream(10, "Pending", "wh-1")}),
        json!({"PK": "CUSTOMER#h5#STATE#gopay", "SK": "GOPAY#PROFILE", "clientProfileId": "7001"}),
        json!({"PK": "UNASSIGNED#xpollens#2026-11-01", "SK": "HIST#2026-11-01T11:00:00.000000Z#xpollens#wh-9",
               "provider": "xpollens", "eventId": "wh-9", "receivedAt": "2026-11-01T11:00:00Z"}),
        json!({"PK": "REJECTED#xpollens#2026-11-01", "SK": "2026-11-01T12:00:00.000000Z#abc",
               "bodySha256": "abc", "expiresAt": 1_800_000_000}),
        json!({"PK": "GOPAY_PROFILE#7001", "SK": "PROFILE", "customerId": "h5#STATE#gopay", "tokenGen": 4}),
    ] {
        t.put(item(v));
    }
    t
}

async fn migrate(t: &MemoryTableItems, dry_run: bool, page_size: usize) -> MigrateReport {
    run(
        t,
        &MemoryCheckpoint::default(),
        &MigrateOptions { dry_run, page_size },
        now(),
        &|_| {},
    )
    .await
    .unwrap()
}

fn legacy_left(t: &MemoryTableItems) -> Vec<String> {
    t.all()
        .iter()
        .filter(|i| plan(i).is_some())
        .map(|i| format!("{}|{}", i["PK"], i["SK"]))
        .collect()
}

#[test]
fn every_old_item_is_planned_under_its_new_keys_with_what_the_new_layout_adds() {
    let t = old_table();
    let h = t
        .item(
            "CUSTOMER#h5#STATE#gopay",
            "HIST#2026-11-01T10:00:00.000000Z#gopay#gp:1",
        )
        .unwrap();
    let Some(Step::Relocate { kind, new }) = plan(&h) else {
        panic!("a history entry relocates")
    };
    assert_eq!(kind, "history");
    assert_eq!(new["PK"], "GP#C#h5%23STATE%23gopay");
    assert_eq!(new["SK"], "HIST#2026-11-01T10:00:00.000000Z#gp:1");
    assert_eq!(new["customerId"], "h5#STATE#gopay");
    assert!(new["GSI1PK"]
        .as_str()
        .unwrap()
        .starts_with("HOUR#2026-11-01T10#"));
    let state = t.item("CUSTOMER#alice", "STATE#xpollens").unwrap();
    assert_eq!(
        plan(&state),
        Some(Step::MergeState {
            new_key: ItemKey {
                pk: "XP#C#alice".into(),
                sk: "STATE".into()
            },
            customer: "alice".into()
        })
    );
    let profile = t.item("GOPAY_PROFILE#7001", "PROFILE").unwrap();
    assert_eq!(
        plan(&profile),
        None,
        "a profile holds a rotating token: never moved"
    );
}

#[test]
fn a_merge_keeps_the_greater_ord_of_each_stream_and_continues_the_version() {
    let old = item(
        json!({"PK": "CUSTOMER#a", "SK": "STATE#xpollens", "version": 7,
                          "kycDemand": stream(30, "Complete", "e3"), "userRecord": stream(5, "InProgress", "e1")}),
    );
    // Written by this release since the deploy: a newer user record, an older demand.
    let new = item(
        json!({"PK": "XP#C#a", "SK": "STATE", "version": 9, "customerId": "a",
                          "kycDemand": stream(20, "Pending", "e2"), "userRecord": stream(40, "Validated", "e4")}),
    );
    let key = ItemKey {
        pk: "XP#C#a".into(),
        sk: "STATE".into(),
    };
    let m = merged_state(&old, Some(&new), &key, "a", now());
    assert_eq!(m["kycDemand"]["status"], "Complete");
    assert_eq!(m["userRecord"]["status"], "Validated");
    assert_eq!(m["version"], 9);
    assert_eq!(m["migratedAt"], now().to_rfc3339());
    assert_eq!(m["migratedFrom"], "CUSTOMER#a|STATE#xpollens");
    // Untouched since the deploy: the old state, its version, under the new keys.
    let copy = merged_state(&old, None, &key, "a", now());
    assert_eq!(
        (copy["PK"].as_str(), copy["version"].as_i64()),
        (Some("XP#C#a"), Some(7))
    );
    assert_eq!(copy["kycDemand"]["status"], "Complete");
}

#[tokio::test]
async fn a_run_moves_every_old_item_and_a_second_run_moves_nothing() {
    let t = old_table();
    let dry = migrate(&t, true, 3).await;
    assert_eq!(dry.total_moved(), 8, "{dry:?}");
    assert_eq!(legacy_left(&t).len(), 8, "a dry run writes nothing");

    let r = migrate(&t, false, 3).await;
    assert_eq!(r.moved, dry.moved, "the dry run counted what the run moved");
    assert_eq!((r.failed, r.lost_races, r.complete), (0, 0, true));
    assert_eq!(legacy_left(&t), Vec::<String>::new());
    for (pk, sk) in [
        ("XP#E#wh-1", "EVENT"),
        ("GP#E#gp:1", "EVENT"),
        ("XP#C#alice", "HIST#2026-11-01T09:00:00.000000Z#wh-1"),
        ("XP#C#alice", "STATE"),
        ("GP#C#h5%23STATE%23gopay", "LINK#PROFILE"),
        ("XP#U#2026-11-01", "HIST#2026-11-01T11:00:00.000000Z#wh-9"),
        ("XP#R#2026-11-01", "2026-11-01T12:00:00.000000Z#abc"),
        ("GOPAY_PROFILE#7001", "PROFILE"),
    ] {
        assert!(t.item(pk, sk).is_some(), "{pk} {sk}");
    }
    let state = t.item("XP#C#alice", "STATE").unwrap();
    assert_eq!(
        (state["version"].as_i64(), state["customerId"].as_str()),
        (Some(3), Some("alice"))
    );

    let again = migrate(&t, false, 3).await;
    assert_eq!(again.total_moved(), 0);
    assert_eq!(
        again.message,
        "nothing to migrate: no item of the old layout is left"
    );
}

#[tokio::test]
async fn an_item_already_written_in_the_new_layout_wins_and_its_old_copy_goes() {
    let t = old_table();
    // The same event, recorded again under its new key (the old check was not in place).
    t.put(item(json!({"PK": "XP#E#wh-1", "SK": "EVENT", "eventId": "wh-1", "bodySha256": "aa", "new": true})));
    let r = migrate(&t, false, 100).await;
    assert_eq!(r.already_there, 1);
    assert_eq!(t.item("XP#E#wh-1", "EVENT").unwrap()["new"], true);
    assert!(t.item("EVENT#xpollens#wh-1", "EVENT").is_none());
}

#[tokio::test]
async fn a_state_written_by_the_intake_during_the_merge_is_merged_again_not_lost() {
    let t = old_table();
    t.put(item(
        json!({"PK": "XP#C#alice", "SK": "STATE", "version": 4, "customerId": "alice",
                      "userRecord": stream(50, "Validated", "wh-5")}),
    ));
    // The intake writes the new state item between the merge's read and its write: the
    // merge's condition fails, it reads again and merges again.
    t.before_next_write(|items| {
        let key = ItemKey {
            pk: "XP#C#alice".into(),
            sk: "STATE".into(),
        };
        let state = items.get_mut(&key).unwrap();
        state.insert("version".into(), json!(5));
        state.insert("scaResult".into(), stream(60, "Succeeded", "wh-6"));
    });
    let r = migrate(&t, false, 100).await;
    assert_eq!(r.failed, 0, "{r:?}");
    let s = t.item("XP#C#alice", "STATE").unwrap();
    assert_eq!(s["kycDemand"]["status"], "Pending", "from the old item");
    assert_eq!(
        s["userRecord"]["status"], "Validated",
        "written since the deploy"
    );
    assert_eq!(
        s["scaResult"]["status"], "Succeeded",
        "written during the merge"
    );
    assert_eq!(s["version"], 5);
}

/// A table that stops answering after `pages` pages.
struct Interrupted<'a> {
    inner: &'a MemoryTableItems,
    pages_left: Mutex<usize>,
}

#[async_trait]
impl TableItems for Interrupted<'_> {
    async fn page(&self, after: Option<&ItemKey>, limit: usize) -> Result<Page, MigrateError> {
        let stop = {
            let mut left = self.pages_left.lock().unwrap();
            let stop = *left == 0;
            *left = left.saturating_sub(1);
            stop
        };
        if stop {
            return Err(MigrateError::Unavailable("injected".into()));
        }
        self.inner.page(after, limit).await
    }
    async fn get(&self, key: &ItemKey) -> Result<Option<Item>, MigrateError> {
        self.inner.get(key).await
    }
    async fn relocate(&self, old: &Item, new: &Item) -> Result<Relocation, MigrateError> {
        self.inner.relocate(old, new).await
    }
    async fn replace_state(
        &self,
        old: &Item,
        expected: Option<&Item>,
        merged: &Item,
    ) -> Result<bool, MigrateError> {
        self.inner.replace_state(old, expected, merged).await
    }
}

#[tokio::test]
async fn an_interrupted_run_resumes_after_its_checkpoint() {
    let t = old_table();
    let checkpoints = MemoryCheckpoint::default();
    let options = MigrateOptions {
        dry_run: false,
        page_size: 2,
    };
    let broken = Interrupted {
        inner: &t,
        pages_left: Mutex::new(2),
    };
    assert!(run(&broken, &checkpoints, &options, now(), &|_| {})
        .await
        .is_err());
    let saved = checkpoints.load().await.unwrap().expect("a checkpoint");
    assert!(saved.report.total_moved() > 0);
    let r = run(&t, &checkpoints, &options, now(), &|_| {})
        .await
        .unwrap();
    assert!(r.resumed);
    assert_eq!(
        r.total_moved(),
        8,
        "counts continue from the checkpoint: {r:?}"
    );
    assert_eq!(legacy_left(&t), Vec::<String>::new());
    assert!(
        checkpoints.load().await.unwrap().is_none(),
        "cleared when complete"
    );
}
