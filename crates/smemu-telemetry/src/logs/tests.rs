//! The store against a temporary file: events in and out in order, streams' figures, retention,
//! resumption and reopening.

use super::*;

fn key(group: &str, stream: &str) -> StreamKey {
    StreamKey { account: "111122223333".into(), region: "us-east-1".into(), group: group.into(), stream: stream.into() }
}

async fn store(dir: &tempfile::TempDir, retention_bytes: u64) -> LogStore {
    LogStore::open(&dir.path().join(LOGS_FILE), LogConfig { retention_bytes }).await.unwrap()
}

async fn write(store: &LogStore, key: &StreamKey, events: &[(i64, &str)]) {
    let sink = store.sink();
    for (ts, message) in events {
        assert!(sink.send(NewEvent { stream: key.clone(), timestamp_ms: *ts, message: (*message).into() }).await);
    }
    store.flush().await;
}

#[tokio::test]
async fn events_come_back_in_time_order_either_way() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, u64::MAX).await;
    let a = key("/aws/sagemaker/Endpoints/e", "AllTraffic/i-1");
    write(&store, &a, &[(30, "c"), (10, "a"), (20, "b"), (20, "b2")]).await;
    let group = store.group_id(&a.account, &a.region, &a.group).await.unwrap().unwrap();
    let stream = store.stream_id(group, &a.stream).await.unwrap().unwrap();
    let all = store.events_after(stream, Cursor::START, TimeRange::default(), 10).await.unwrap();
    let messages: Vec<&str> = all.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["a", "b", "b2", "c"]);
    let next = store.events_after(stream, all[1].cursor(), TimeRange::default(), 10).await.unwrap();
    assert_eq!(next.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["b2", "c"]);
    let last_two = store.events_before(stream, Cursor::END, TimeRange::default(), 2).await.unwrap();
    assert_eq!(last_two.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["b2", "c"]);
    let ranged =
        store.events_after(stream, Cursor::START, TimeRange { start: Some(20), end: Some(30) }, 10).await.unwrap();
    assert_eq!(ranged.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["b", "b2"]);

    let streams = store.streams(group, None, StreamOrder::Name, false, 0, 50).await.unwrap();
    assert_eq!(streams.len(), 1);
    assert_eq!((streams[0].first_event_ts, streams[0].last_event_ts), (Some(10), Some(30)));
    assert_eq!(streams[0].stored_bytes, i64::try_from(event_size("c") * 3 + event_size("b2")).unwrap());
    assert_eq!(store.resume_point(&a).await.unwrap(), Some((30, 1)));
    assert_eq!(store.resume_point(&key("/nope", "x")).await.unwrap(), None);
}

#[tokio::test]
async fn groups_streams_and_group_events_select_as_asked() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, u64::MAX).await;
    write(&store, &key("/aws/sagemaker/TransformJobs", "job-1/i-1-100"), &[(1, "one ERROR")]).await;
    write(&store, &key("/aws/sagemaker/TransformJobs", "job-1/data-log"), &[(2, "two")]).await;
    write(&store, &key("/aws/sagemaker/TransformJobs", "job-2/i-2-100"), &[(3, "three")]).await;
    write(&store, &key("/aws/sagemaker/Endpoints/e", "AllTraffic/i-1"), &[(4, "four")]).await;
    let groups = store
        .groups(
            "111122223333",
            "us-east-1",
            &GroupSelect { prefix: Some("/aws/sagemaker/"), ..GroupSelect::default() },
            50,
        )
        .await
        .unwrap();
    assert_eq!(
        groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        ["/aws/sagemaker/Endpoints/e", "/aws/sagemaker/TransformJobs"]
    );
    let paged = store
        .groups(
            "111122223333",
            "us-east-1",
            &GroupSelect { after: Some("/aws/sagemaker/Endpoints/e"), ..GroupSelect::default() },
            50,
        )
        .await
        .unwrap();
    assert_eq!(paged.len(), 1);
    let pattern = store
        .groups("111122223333", "us-east-1", &GroupSelect { pattern: Some("transform"), ..GroupSelect::default() }, 50)
        .await
        .unwrap();
    assert_eq!(pattern.len(), 1);
    assert!(store.groups("999999999999", "us-east-1", &GroupSelect::default(), 50).await.unwrap().is_empty());

    let jobs = store.group_id("111122223333", "us-east-1", "/aws/sagemaker/TransformJobs").await.unwrap().unwrap();
    let by_prefix = store.streams(jobs, Some("job-1/"), StreamOrder::Name, true, 0, 50).await.unwrap();
    assert_eq!(by_prefix.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["job-1/i-1-100", "job-1/data-log"]);
    let by_time = store.streams(jobs, None, StreamOrder::LastEventTime, true, 1, 1).await.unwrap();
    assert_eq!(by_time[0].name, "job-1/data-log");

    let everything =
        store.group_events(jobs, &StreamSelect::All, Cursor::START, TimeRange::default(), 10).await.unwrap();
    assert_eq!(everything.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["one ERROR", "two", "three"]);
    let named = store
        .group_events(jobs, &StreamSelect::Names(vec!["job-2/i-2-100".into()]), Cursor::START, TimeRange::default(), 10)
        .await
        .unwrap();
    assert_eq!(named[0].stream, "job-2/i-2-100");
    let prefixed = store
        .group_events(jobs, &StreamSelect::Prefix("job-1/".into()), everything[0].cursor(), TimeRange::default(), 10)
        .await
        .unwrap();
    assert_eq!(prefixed.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["two"]);
}

#[tokio::test]
async fn retention_drops_the_oldest_events_and_the_store_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    // Room for three events of 4 bytes (30 bytes each as CloudWatch counts them).
    let retention = 3 * event_size("abcd");
    {
        let store = store(&dir, retention).await;
        let a = key("/g", "s");
        let t = key("/g", "t");
        write(&store, &t, &[(0, "gone")]).await;
        write(&store, &a, &[(1, "old1"), (2, "old2")]).await;
        write(&store, &a, &[(3, "new3"), (4, "new4"), (5, "new5")]).await;
        let group = store.group_id(&a.account, &a.region, "/g").await.unwrap().unwrap();
        let stream = store.stream_id(group, "s").await.unwrap().unwrap();
        let left = store.events_after(stream, Cursor::START, TimeRange::default(), 10).await.unwrap();
        assert_eq!(left.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["new3", "new4", "new5"]);
        let info = &store.streams(group, None, StreamOrder::Name, false, 0, 1).await.unwrap()[0];
        assert_eq!(info.first_event_ts, Some(3));
        assert_eq!(info.stored_bytes, i64::try_from(retention).unwrap());
        // A stream whose events all went still resumes after its last one, not from the start.
        assert_eq!(store.resume_point(&t).await.unwrap(), Some((0, 0)));
    }
    let reopened = store(&dir, retention).await;
    let a = key("/g", "s");
    write(&reopened, &a, &[(6, "new6")]).await;
    let group = reopened.group_id(&a.account, &a.region, "/g").await.unwrap().unwrap();
    let stream = reopened.stream_id(group, "s").await.unwrap().unwrap();
    let left = reopened.events_after(stream, Cursor::START, TimeRange::default(), 10).await.unwrap();
    assert_eq!(left.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["new4", "new5", "new6"]);
}

#[tokio::test]
async fn groups_named_finds_a_group_in_every_account_and_region() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, u64::MAX).await;
    let here = key("/aws/sagemaker/Endpoints/e", "AllTraffic/i-1");
    let other_account = StreamKey { account: "444455556666".into(), ..here.clone() };
    let other_region = StreamKey { region: "eu-west-1".into(), ..here.clone() };
    for k in [&here, &other_account, &other_region] {
        write(&store, k, &[(1, "x")]).await;
    }
    write(&store, &key("/aws/sagemaker/Endpoints/e2", "AllTraffic/i-1"), &[(1, "y")]).await;
    let mut expected = Vec::new();
    for k in [&here, &other_account, &other_region] {
        expected.push(store.group_id(&k.account, &k.region, &k.group).await.unwrap().unwrap());
    }
    expected.sort_unstable();
    assert_eq!(store.groups_named("/aws/sagemaker/Endpoints/e").await.unwrap(), expected);
    // A name is matched whole, not as a prefix.
    assert!(store.groups_named("/aws/sagemaker/Endpoints/").await.unwrap().is_empty());
}

#[tokio::test]
async fn events_written_after_follows_write_order_within_the_selected_streams() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, u64::MAX).await;
    let jobs = "/aws/sagemaker/TransformJobs";
    // Stamped out of order on purpose: a line stamped earlier but written later still comes after.
    write(&store, &key(jobs, "job-1/i-1"), &[(50, "first")]).await;
    write(&store, &key(jobs, "job-10/i-1"), &[(5, "other job")]).await;
    write(&store, &key(jobs, "job-1/i-2"), &[(10, "second")]).await;
    write(&store, &key(jobs, "job-1/i-1"), &[(60, "third")]).await;
    let groups = store.groups_named(jobs).await.unwrap();
    let all = store.events_written_after(&groups, "job-1/", 0, TimeRange::default(), 10).await.unwrap();
    assert_eq!(all.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["first", "second", "third"]);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    // Paging: after the first event's seq, at most one more.
    let page = store.events_written_after(&groups, "job-1/", all[0].seq, TimeRange::default(), 1).await.unwrap();
    assert_eq!(page.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["second"]);
    // `--since`: the time range applies on top of the write order.
    let recent =
        store.events_written_after(&groups, "job-1/", 0, TimeRange { start: Some(50), end: None }, 10).await.unwrap();
    assert_eq!(recent.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["first", "third"]);
    // No prefix: every stream of the groups.
    assert_eq!(store.events_written_after(&groups, "", 0, TimeRange::default(), 10).await.unwrap().len(), 4);
    assert!(store.events_written_after(&[], "", 0, TimeRange::default(), 10).await.unwrap().is_empty());
}
