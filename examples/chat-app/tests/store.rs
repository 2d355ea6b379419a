//! The conversation store on both engines, over real connections: SQLite in a temporary directory and
//! PostgreSQL on the throwaway cluster (`tests/support`). The same checks run on both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use chat_app::events::PageEvent;
use chat_app::store::Store;
use sqlx::Connection;

fn user(text: &str) -> PageEvent {
    PageEvent::User { text: text.into() }
}

/// Runs `sql` on the database at `url` (outside the store: to age a lease as a dead process would).
async fn raw(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query(sql).execute(&mut connection).await.unwrap();
    connection.close().await.unwrap();
}

/// Everything a person does with their conversations, and nothing another person can do to them.
async fn conversations_are_kept_per_owner(store: &Store) {
    let (alice, bob) = ("alice-owner", "bob-owner");
    let first = store.create(alice).await.unwrap();
    assert_eq!(first.title, "New conversation");
    assert_eq!(first.id.len(), 32);
    store.append(alice, &first.id, &user("plot the sales by month, please")).await.unwrap();
    store.touch_with_message(alice, &first.id, "plot the sales by month, please").await.unwrap();
    let second = store.create(alice).await.unwrap();
    store.touch_with_message(alice, &second.id, "second").await.unwrap();
    store.touch_with_message(alice, &second.id, "a later message does not retitle it").await.unwrap();

    let list = store.list(alice).await.unwrap();
    let titles: Vec<&str> = list.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(titles, ["second", "plot the sales by month, please"], "the most recently used first");
    assert_eq!(store.latest(alice).await.unwrap().map(|c| c.id), Some(second.id.clone()));

    // Events in order, read back exactly as sent.
    let events = [
        PageEvent::ToolCall {
            id: Some("c1".into()),
            name: "run_python".into(),
            code: Some("print('ünïcødé')".into()),
            args: None,
            as_text: false,
            cell: false,
        },
        PageEvent::Artifact { path: "/mnt/data/out.csv".into(), size: Some(12), description: Some("d".into()) },
        PageEvent::Assistant { html: "<p>done</p>".into() },
    ];
    for event in &events {
        assert!(store.append(alice, &first.id, event).await.unwrap());
    }
    let stored = store.events(alice, &first.id).await.unwrap();
    assert_eq!(stored.len(), 4);
    assert_eq!(&stored[1..], &events);
    assert_eq!(store.artifacts(alice, &first.id).await.unwrap(), ["/mnt/data/out.csv"]);

    // Another owner: nothing to see, and nothing they do has an effect.
    assert!(store.list(bob).await.unwrap().is_empty());
    assert!(store.find(bob, &first.id).await.unwrap().is_none());
    assert!(store.events(bob, &first.id).await.unwrap().is_empty());
    assert!(store.artifacts(bob, &first.id).await.unwrap().is_empty());
    assert!(!store.append(bob, &first.id, &user("injected")).await.unwrap());
    assert!(!store.rename(bob, &first.id, "mine now").await.unwrap());
    assert!(!store.delete(bob, &first.id).await.unwrap());
    assert!(store.begin_turn(bob, &first.id).await.unwrap().is_none());
    assert!(!store.request_stop(bob, &first.id).await.unwrap());
    let lease = store.begin_turn(alice, &first.id).await.unwrap().unwrap();
    assert!(!store.save_turn(bob, &lease, "[\"bob's\"]", Some("bob-model"), None).await.unwrap());
    assert!(!store.append_in_turn(bob, &lease, &user("injected")).await.unwrap());
    assert_eq!(store.history(alice, &first.id).await.unwrap(), "[]", "bob cannot write alice's history");
    assert_eq!(store.events(alice, &first.id).await.unwrap().len(), 4);

    // Rename, history, delete.
    assert!(store.rename(alice, &first.id, "  Sales\nby month  ").await.unwrap());
    assert_eq!(store.find(alice, &first.id).await.unwrap().unwrap().title, "Sales by month");
    let saved = store.save_turn(alice, &lease, "[{\"role\":\"user\"}]", Some("gpt"), Some("2026-12-07T10:00:00Z"));
    assert!(saved.await.unwrap());
    store.end_turn(&lease).await.unwrap();
    assert!(!store.save_turn(alice, &lease, "[]", None, None).await.unwrap(), "an ended turn writes nothing");
    assert!(!store.append_in_turn(alice, &lease, &user("late")).await.unwrap());
    assert_eq!(store.history(alice, &first.id).await.unwrap(), "[{\"role\":\"user\"}]");
    let row = store.find(alice, &first.id).await.unwrap().unwrap();
    assert_eq!((row.model.as_deref(), row.session_created.as_deref()), (Some("gpt"), Some("2026-12-07T10:00:00Z")));
    assert!(store.delete(alice, &first.id).await.unwrap());
    assert!(store.find(alice, &first.id).await.unwrap().is_none());
    assert!(store.events(alice, &first.id).await.unwrap().is_empty(), "its events went with it");
    assert!(store.find(alice, "not-an-id").await.unwrap().is_none(), "a malformed id is simply not found");
}

/// One turn at a time; Stop reaches the lease holder; a dead holder's turn is marked interrupted.
async fn turns_are_leased(store: &Store, url: &str) {
    let owner = "turn-owner";
    let c = store.create(owner).await.unwrap();
    let lease = store.begin_turn(owner, &c.id).await.unwrap().unwrap();
    assert!(store.begin_turn(owner, &c.id).await.unwrap().is_none(), "a second turn waits");
    assert!(store.find(owner, &c.id).await.unwrap().unwrap().running);
    assert_eq!(store.heartbeat(&lease, "").await.unwrap(), Some(false));
    assert!(store.request_stop(owner, &c.id).await.unwrap());
    assert_eq!(store.heartbeat(&lease, "").await.unwrap(), Some(true), "Stop pressed anywhere reaches the holder");
    store.end_turn(&lease).await.unwrap();
    assert!(!store.request_stop(owner, &c.id).await.unwrap(), "no turn, nothing to stop");
    assert_eq!(store.heartbeat(&lease, "").await.unwrap(), None, "an ended lease is gone");

    // A live lease is never taken for dead.
    let lease = store.begin_turn(owner, &c.id).await.unwrap().unwrap();
    assert!(!store.interrupt_if_dead(owner, &c.id).await.unwrap());
    // The answer being written is saved with the lease: what the page showed of it outlives the process.
    assert_eq!(store.heartbeat(&lease, "The total is").await.unwrap(), Some(false));
    // Its process stops renewing it (a SIGKILL): it is marked interrupted, once, and the next turn may run.
    let aged = chat_app::store::STALE_AFTER.as_millis() as i64 * 2;
    raw(url, &format!("UPDATE conversations SET turn_heartbeat = turn_heartbeat - {aged}")).await;
    assert!(store.interrupt_if_dead(owner, &c.id).await.unwrap());
    assert!(!store.interrupt_if_dead(owner, &c.id).await.unwrap(), "marked once");
    let events = store.events(owner, &c.id).await.unwrap();
    assert!(matches!(events.last(), Some(PageEvent::Interrupted { .. })), "{events:?}");
    assert_eq!(events[events.len() - 2], PageEvent::Narration { text: "The total is".into() }, "the cut-off text");
    assert_eq!(store.heartbeat(&lease, "").await.unwrap(), None, "the dead turn's lease is gone");
    assert!(store.begin_turn(owner, &c.id).await.unwrap().is_some());
}

#[tokio::test]
async fn sqlite_keeps_conversations_per_owner_and_leases_turns() {
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    conversations_are_kept_per_owner(&store).await;
    let url = format!("sqlite://{}/conversations.sqlite3", dir.path().display());
    turns_are_leased(&store, &url).await;
}

#[tokio::test]
async fn postgres_keeps_conversations_per_owner_and_leases_turns() {
    let Some((store, url)) = support::postgres_store().await else { return };
    conversations_are_kept_per_owner(&store).await;
    turns_are_leased(&store, &url).await;
}

/// What a SQLite app process had running when it stopped is marked interrupted when it starts again, and
/// everything else is as it was.
#[tokio::test]
async fn sqlite_restarts_with_every_conversation_and_cut_off_turns_marked() {
    let dir = tempfile::tempdir().unwrap();
    let before = support::sqlite_store(dir.path()).await;
    let c = before.create("o").await.unwrap();
    before.append("o", &c.id, &user("hello")).await.unwrap();
    let lease = before.begin_turn("o", &c.id).await.unwrap().unwrap();
    before.heartbeat(&lease, "Half an ans").await.unwrap();
    // The process dies without a word (its pool is simply dropped).
    drop((before, lease));
    let after = support::sqlite_store(dir.path()).await;
    let events = after.events("o", &c.id).await.unwrap();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0], user("hello"));
    assert_eq!(events[1], PageEvent::Narration { text: "Half an ans".into() }, "what the page showed of the answer");
    assert!(matches!(&events[2], PageEvent::Interrupted { message } if message.contains("cut off")));
    assert!(!after.find("o", &c.id).await.unwrap().unwrap().running);
    // Preparing again in the same process marks nothing more (the migrations and the sweep run once).
    after.prepare().await.unwrap();
    assert_eq!(after.events("o", &c.id).await.unwrap().len(), 3);
}

/// Several replicas start at once on one PostgreSQL: the migrations run once, and writers to one
/// conversation never lose an event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_migrate_together_and_append_without_loss() {
    let Some(base) = support::postgres_base() else { return };
    let url = support::fresh_database(&base).await;
    let stores: Vec<Store> = (0..4).map(|_| Store::lazy(&url).unwrap()).collect();
    let prepared = futures_util::future::join_all(stores.iter().map(Store::prepare)).await;
    assert!(prepared.iter().all(Result::is_ok), "{prepared:?}");
    let c = stores[0].create("o").await.unwrap();
    let writers = stores.iter().enumerate().map(|(n, store)| {
        let id = c.id.clone();
        async move {
            for i in 0..10 {
                assert!(store.append("o", &id, &user(&format!("{n}-{i}"))).await.unwrap());
            }
        }
    });
    futures_util::future::join_all(writers).await;
    let events = stores[1].events("o", &c.id).await.unwrap();
    assert_eq!(events.len(), 40, "every append kept");
}

#[tokio::test]
async fn a_database_that_is_not_there_says_so() {
    // Nothing listens on port 9 of loopback: the store is not ready, and says why in words.
    let store = Store::lazy("postgres://app@127.0.0.1:9/chat").unwrap();
    let error = store.prepare().await.unwrap_err().to_string();
    assert!(error.contains("database"), "{error}");
    let not_ready = store.list("o").await.unwrap_err().to_string();
    assert!(not_ready.contains("not ready"), "{not_ready}");
    assert!(Store::lazy("mysql://x/y").unwrap_err().to_string().contains("postgres://"));
}

/// Entra ID sign-in: the token is the password of new connections, asked for with the database's scope, and
/// replaced before it expires (the throwaway cluster trusts loopback, so this checks the token's life cycle and
/// that connections keep working through each replacement; the Azure side is Entra's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_tokens_are_asked_for_the_database_and_replaced_before_they_expire() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
    use chat_app::store::{ENTRA_SCOPE, EntraPassword};

    #[derive(Debug, Default)]
    struct Tokens(AtomicUsize);

    #[async_trait::async_trait]
    impl TokenCredential for Tokens {
        async fn get_token(
            &self,
            scopes: &[&str],
            _: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            assert_eq!(scopes, [ENTRA_SCOPE]);
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            // JWT-like text, with the characters real tokens carry; valid for 2 s.
            let token = format!("eyJ0eXAi.eyJhdWQi-{n}_x.sig-{n}");
            Ok(AccessToken::new(token, time::OffsetDateTime::now_utc() + time::Duration::seconds(2)))
        }
    }

    let Some(base) = support::postgres_base() else { return };
    let url = support::fresh_database(&base).await;
    let with_password = url.replacen("postgres@", "postgres:pw@", 1);
    let refused = EntraPassword::new(&with_password, Arc::new(Tokens::default())).unwrap_err().to_string();
    assert!(refused.contains("password"), "{refused}");

    let tokens = Arc::new(Tokens::default());
    let entra = EntraPassword::new(&url, tokens.clone())
        .unwrap()
        .with_timing(Duration::from_secs(1), Duration::from_millis(200));
    // The token is the password of a new connection.
    let (options, _) = entra.connect_options().await.unwrap();
    assert_eq!(options.database_url.password(), Some("eyJ0eXAi.eyJhdWQi-0_x.sig-0"));
    assert_eq!(options.database_url.username(), "postgres", "the role stays the URL's");
    let started = std::time::Instant::now();
    let store = entra.into_store(Some(2)).await.unwrap();
    store.prepare().await.unwrap();
    let c = store.create("o").await.unwrap();
    // A 2-second token is replaced a second before it expires: two replacements after the first token take
    // two such waits, not a busy loop and not never.
    while tokens.0.load(Ordering::SeqCst) < 4 {
        assert!(started.elapsed() < Duration::from_secs(30), "the token was never replaced");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(1500), "replaced too soon: {:?}", started.elapsed());
    assert!(store.append("o", &c.id, &user("still here")).await.unwrap());
}
