//! Canary: a password hash and a bind-password-like secret with distinctive
//! values flow through full cycles, the Graph rendering and the change JSON
//! decoder; neither may show up in any log, error, `Debug` / `Display` output
//! or serialized plan, report or snapshot. The only places allowed to carry
//! the hash are the in-memory target's password state (a fingerprint, never
//! the bytes) and the body of the Graph request of the `SetPasswordHash` op.

use base64::Engine as _;
use idsync::change::ChangeBatch;
use idsync::config::SyncConfig;
use idsync::engine::{CycleReport, Engine, State};
use idsync::graph::{self, GraphRequest};
use idsync::memory::{AdSource, InMemoryAd, InMemoryTarget};
use idsync::object::{Secret, Value};
use idsync::scope::OuScope;
use idsync::target::{Action, TargetErrorKind};
use idsync::time::Timestamp;

const HASH: &[u8] = b"CANARY-pwhash-5e1f0c9a77";
const BIND: &[u8] = b"CANARY-bindpw-d40b2e8813";

/// Every form a leaked canary could take: raw, base64 (standard and URL-safe),
/// hex, and the bytes as a Rust `Debug` list.
fn forms(secret: &[u8]) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        String::from_utf8(secret.to_vec()).unwrap(),
        b64.encode(secret),
        b64url.encode(secret),
        hex,
        format!("{secret:?}").trim_matches(['[', ']']).to_owned(),
        // a distinctive infix survives truncation in messages
        String::from_utf8(secret[7..].to_vec()).unwrap(),
    ]
}

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    for secret in [HASH, BIND] {
        for form in forms(secret) {
            assert!(
                !text.contains(&form),
                "{what} leaks a secret as {form:?}:\n{text}"
            );
        }
    }
}

struct World {
    ad: InMemoryAd,
    cloud: InMemoryTarget,
    config: SyncConfig,
    ann: idsync::anchor::Guid,
    bob: idsync::anchor::Guid,
}

fn world() -> World {
    let mut ad = InMemoryAd::new("DC=corp,DC=example,DC=com").unwrap();
    let root = ad.domain().clone();
    let staff = ad.add_ou(&root, "Staff").unwrap();
    let staff_dn = ad.dn_of(staff).unwrap();
    let ann = ad.add_user(&staff_dn, "Ann Lee").unwrap();
    let bob = ad.add_user(&staff_dn, "Bob Ray").unwrap();
    let g = ad.add_group(&staff_dn, "Everyone").unwrap();
    ad.add_member(g, ann).unwrap();
    ad.add_member(g, bob).unwrap();
    // A bind-password-like secret kept in the directory itself.
    ad.set(
        ann,
        "userPassword",
        [Value::Secret(Secret::new(BIND.to_vec()))],
    )
    .unwrap();
    let mut cloud = InMemoryTarget::new("contoso.onmicrosoft.com");
    cloud.add_verified_domain("corp.example.com");
    let mut config = SyncConfig::new("corp");
    config.domain.fqdn = "corp.example.com".into();
    config.domain.netbios = "CORP".into();
    config.scope.ous = vec![OuScope::dn(staff_dn.as_str())];
    World {
        ad,
        cloud,
        config,
        ann,
        bob,
    }
}

/// Everything observable about a cycle, as text.
fn observe(report: &CycleReport, engine: &Engine, state: &State) -> Vec<(String, String)> {
    let mut out = vec![
        ("report Debug".to_owned(), format!("{report:?}")),
        ("plan Debug".to_owned(), format!("{:?}", report.plan)),
        (
            "plan JSON".to_owned(),
            serde_json::to_string(&report.plan).unwrap(),
        ),
        (
            "commit JSON".to_owned(),
            serde_json::to_string(&report.commit).unwrap(),
        ),
        (
            "ingest JSON".to_owned(),
            serde_json::to_string(&report.ingested).unwrap(),
        ),
        ("engine Debug".to_owned(), format!("{engine:?}")),
        ("state Debug".to_owned(), format!("{state:?}")),
        (
            "state JSON".to_owned(),
            serde_json::to_string(state).unwrap(),
        ),
        ("mirror Debug".to_owned(), format!("{:?}", engine.mirror())),
        ("held Debug".to_owned(), format!("{:?}", engine.held_sets())),
    ];
    for entry in report.plan.log.iter().chain(&report.commit.log) {
        out.push(("log Display".to_owned(), entry.to_string()));
        out.push(("log Debug".to_owned(), format!("{entry:?}")));
        out.push(("log JSON".to_owned(), serde_json::to_string(entry).unwrap()));
    }
    for op in &report.plan.ops {
        out.push(("op Debug".to_owned(), format!("{op:?}")));
        out.push(("op reason".to_owned(), op.reason.to_string()));
        out.push(("op JSON".to_owned(), serde_json::to_string(op).unwrap()));
    }
    for r in &report.results {
        out.push(("result Debug".to_owned(), format!("{r:?}")));
        if let Err(e) = &r.outcome {
            out.push(("result error".to_owned(), e.to_string()));
        }
    }
    out
}

fn graph_forms(req: &GraphRequest) -> Vec<(String, String)> {
    vec![
        ("graph Debug".to_owned(), format!("{req:?}")),
        ("graph Display".to_owned(), req.to_string()),
        ("graph log form".to_owned(), req.log_form().to_string()),
    ]
}

#[test]
fn secrets_never_leak_through_a_full_cycle() {
    let mut w = world();
    let mut engine = Engine::new(&w.config).unwrap();
    let t0 = Timestamp::from_secs(1_767_225_600);
    let report = {
        let mut source =
            AdSource::new(&mut w.ad, "corp").with_password_hash(w.ann, Secret::new(HASH.to_vec()));
        // The source itself (its Debug) keeps the queued hash redacted.
        assert_clean("source Debug", &format!("{source:?}"));
        engine
            .run_cycle(&mut source, &mut w.cloud, t0, false)
            .unwrap()
    };
    assert_eq!(report.commit.failed, 0, "{:?}", report.results);
    let state = engine.snapshot();
    for (what, text) in observe(&report, &engine, &state) {
        assert_clean(&what, &text);
    }

    // The one op that must carry the hash does, in memory.
    let pw_ops: Vec<_> = report
        .plan
        .ops
        .iter()
        .filter(|o| matches!(o.action, Action::SetPasswordHash { .. }))
        .collect();
    assert_eq!(pw_ops.len(), 1, "exactly one SetPasswordHash op");
    assert_eq!(pw_ops[0].object, w.ann);
    match &pw_ops[0].action {
        Action::SetPasswordHash { hash, .. } => assert_eq!(hash.expose(), HASH),
        _ => unreachable!(),
    }

    // The target stores a fingerprint of the hash, never the hash.
    let ann_id = engine.exported(&w.ann).unwrap().target.clone();
    let ann = w.cloud.get(&ann_id).unwrap();
    assert!(ann.password.has_hash());
    assert_eq!(ann.password.times_set, 1);
    assert!(
        !w.cloud
            .get(&engine.exported(&w.bob).unwrap().target)
            .unwrap()
            .password
            .has_hash()
    );
    assert_clean("cloud object Debug", &format!("{ann:?}"));
    assert_clean("cloud log Debug", &format!("{:?}", w.cloud.log()));

    // Explanations of the objects that held secrets are clean too.
    for g in [w.ann, w.bob] {
        let x = engine.explain(&g, t0, &w.cloud);
        assert_clean("explanation Debug", &format!("{x:?}"));
    }

    // Graph rendering: only the wire body of the password request holds it.
    let rendered = graph::render_plan(&report.plan.ops);
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    let mut carriers = 0;
    for batch in &rendered.batches {
        assert_clean("graph batch Debug", &format!("{batch:?}"));
        assert_clean("graph batch log form", &batch.log_form().to_string());
        for req in &batch.requests {
            for (what, text) in graph_forms(req) {
                assert_clean(&what, &text);
            }
            let wire = serde_json::to_string(req).unwrap();
            if req.carries_secret() {
                carriers += 1;
                let b64 = base64::engine::general_purpose::STANDARD.encode(HASH);
                assert!(wire.contains(&b64), "the wire body carries the hash");
                assert_clean("graph wire body outside the hash", &wire.replace(&b64, ""));
            } else {
                assert_clean("graph wire form", &wire);
            }
        }
    }
    assert_eq!(carriers, 1, "one Graph request carries the hash");
    for e in &rendered.errors {
        assert_clean("graph error", &e.to_string());
    }
}

#[test]
fn secrets_never_leak_through_failures_retries_and_restore() {
    let mut w = world();
    let mut engine = Engine::new(&w.config).unwrap();
    let t0 = Timestamp::from_secs(1_767_225_600);
    // Every op for Ann fails permanently, then transiently.
    w.cloud
        .fail_on_object(w.ann, TargetErrorKind::AttributeFormat);
    let report = {
        let mut source =
            AdSource::new(&mut w.ad, "corp").with_password_hash(w.ann, Secret::new(HASH.to_vec()));
        engine
            .run_cycle(&mut source, &mut w.cloud, t0, false)
            .unwrap()
    };
    assert!(report.commit.failed > 0, "the fault fired");
    let state = engine.snapshot();
    for (what, text) in observe(&report, &engine, &state) {
        assert_clean(&what, &text);
    }
    if let Some(f) = engine.failure(&w.ann) {
        assert_clean("failure Debug", &format!("{f:?}"));
    }
    w.cloud.clear_faults();
    w.cloud.fail_next(1, TargetErrorKind::Transient);
    // A new hash arrives with a change; Ann is retried.
    w.ad.set(w.ann, "title", [Value::str("Engineer")]).unwrap();
    let report = {
        let mut source =
            AdSource::new(&mut w.ad, "corp").with_password_hash(w.ann, Secret::new(HASH.to_vec()));
        engine
            .run_cycle(&mut source, &mut w.cloud, t0.add_secs(60), true)
            .unwrap()
    };
    let state = engine.snapshot();
    for (what, text) in observe(&report, &engine, &state) {
        assert_clean(&what, &text);
    }
    // Restoring from the snapshot and running again stays clean. Pending
    // hashes are never persisted, so the source sends the hash again (as an
    // agent's full password sync does after a restart).
    let json = serde_json::to_string(&state).unwrap();
    assert_clean("snapshot JSON", &json);
    let restored: State = serde_json::from_str(&json).unwrap();
    let mut engine = Engine::restore(&w.config, restored).unwrap();
    let report = {
        let mut source =
            AdSource::new(&mut w.ad, "corp").with_password_hash(w.ann, Secret::new(HASH.to_vec()));
        engine
            .run_cycle(&mut source, &mut w.cloud, t0.add_secs(120), true)
            .unwrap()
    };
    assert_eq!(report.commit.failed, 0, "{:?}", report.results);
    let state = engine.snapshot();
    for (what, text) in observe(&report, &engine, &state) {
        assert_clean(&what, &text);
    }
    // The hash reached Ann in the end (the retry or the second hash).
    let ann_id = engine.exported(&w.ann).unwrap().target.clone();
    assert!(w.cloud.get(&ann_id).unwrap().password.has_hash());
}

fn batch_json(hash_b64: &str, extra: &str) -> String {
    format!(
        r#"{{
  "v": 1,
  "source": "corp",
  "since": {{"usn": {{"dc": "dc1", "invocationId": "0f6c3a8e-2b1d-4c5e-9a7f-112233445566", "highestCommittedUSN": 1}}}},
  "watermark": {{"usn": {{"dc": "dc1", "invocationId": "0f6c3a8e-2b1d-4c5e-9a7f-112233445566", "highestCommittedUSN": 2}}}},
  "kind": "delta",
  "records": [
    {{"op": "add", "objectGUID": "Z0UjAauJ780BI0VniavN7w==",
      "dn": "CN=Ann Lee,OU=Staff,DC=corp,DC=example,DC=com",
      "attributes": {{"objectClass": {{"str": ["top", "user"]}}{extra}}},
      "passwordHash": "{hash_b64}"}}
  ]
}}"#
    )
}

#[test]
fn change_json_decoding_keeps_the_hash_out_of_debug_and_errors() {
    let b64 = base64::engine::general_purpose::STANDARD.encode(HASH);
    let batch = ChangeBatch::from_json(batch_json(&b64, "").as_bytes()).unwrap();
    assert_eq!(
        batch.records[0]
            .password_hash()
            .map(|s| s.expose().to_vec()),
        Some(HASH.to_vec())
    );
    assert_clean("decoded batch Debug", &format!("{batch:?}"));
    // The change wire form is a carrier (agent -> service); it round-trips.
    let wire = batch.to_json().unwrap();
    assert_eq!(ChangeBatch::from_json(&wire).unwrap(), batch);

    // Errors from batches that carry the hash never quote it.
    let broken = [
        // a bad attribute after the hash-bearing record's attributes
        batch_json(&b64, r#", "cn": {"int": ["x"]}"#),
        // an unknown field in the record
        batch_json(&b64, r#"}, "bogus": {"#).replace("\"bogus\": {}", "\"bogus\": 1"),
        // the hash itself not base64 (raw bytes with a bad char)
        batch_json(
            &format!("{}!", String::from_utf8(HASH.to_vec()).unwrap()),
            "",
        ),
        // a hash of the wrong JSON type
        batch_json(&b64, "").replace(&format!("\"{b64}\""), &format!("[\"{b64}\"]")),
        // truncated right after the hash
        {
            let full = batch_json(&b64, "");
            let cut = full.find(&b64).unwrap() + b64.len() + 1;
            full[..cut].to_owned()
        },
    ];
    for (i, text) in broken.iter().enumerate() {
        let err = ChangeBatch::from_json(text.as_bytes())
            .expect_err(&format!("broken batch {i} must not decode"));
        assert_clean(&format!("decode error {i} Display"), &err.to_string());
        assert_clean(&format!("decode error {i} Debug"), &format!("{err:?}"));
    }
}

#[test]
fn ldif_password_attributes_stay_redacted() {
    let b64 = base64::engine::general_purpose::STANDARD.encode(BIND);
    let text = format!(
        "dn: CN=Svc,OU=Staff,DC=corp,DC=com\nobjectClass: top\nobjectClass: user\n\
         objectGUID:: /xmWb4aLEdC0LQDAT8lk/w==\nuserPassword:: {b64}\nunicodePwd: {}\n",
        String::from_utf8(HASH.to_vec()).unwrap()
    );
    let records = idsync::ldif::parse(&text).unwrap();
    assert_clean("ldif records Debug", &format!("{records:?}"));
    let obj = records[0].to_source_object().unwrap();
    assert_clean("ldif object Debug", &format!("{obj:?}"));
    assert!(matches!(
        obj.attributes.first("userPassword"),
        Some(Value::Secret(s)) if s.expose() == BIND
    ));
    // A broken record after the secret lines: the error does not quote them.
    let broken = format!("{text}badline-without-colon\n");
    if let Err(e) = idsync::ldif::parse(&broken) {
        assert_clean("ldif error", &format!("{e} {e:?}"));
    }
}
