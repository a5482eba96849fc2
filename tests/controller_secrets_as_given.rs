//! Kubernetes mode takes secrets as given, as file mode does: one trailing newline of a Secret's
//! value is trimmed, and an empty value is refused before any request, naming the Secret and key.

mod common;
mod fake_apiserver;
mod kube_world;

use kube_world::{eventually, ready_now, World};
use serde_json::json;

/// The message of condition `type_` of credential `name`.
fn message(w: &World, name: &str, type_: &str) -> String {
    w.status(name)["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_secret_is_refused_before_any_request_and_a_trailing_newline_is_trimmed() {
    let w = World::new().await;
    let (stop, task) = w.controller("solo", false).await;
    // `echo tok-one | base64` in a Secret's data: the newline is not part of the token.
    w.put_secret("bc", "tok-one\n").await;
    w.put_credential("prod", "Production", "abc123", "bc", json!({}))
        .await;
    eventually(10, "Ready", || ready_now(&w, "prod", "True", "Ready")).await;
    assert_eq!(w.token_of("Production").await.as_deref(), Some("tok-one"));

    for empty in ["", "\n"] {
        let asked = w.verifications_of("abc123");
        w.put_secret("bc", empty).await;
        eventually(10, "Ready=False SecretNotFound", || {
            ready_now(&w, "prod", "False", "SecretNotFound")
        })
        .await;
        for type_ in ["Verified", "Ready"] {
            assert_eq!(
                message(&w, "prod", type_),
                "accessToken: Secret shop/bc key token is empty; the stored row is kept as it is",
                "{type_}"
            );
        }
        assert_eq!(w.verifications_of("abc123"), asked, "nothing was sent");
        assert_eq!(
            w.token_of("Production").await.as_deref(),
            Some("tok-one"),
            "the row keeps its token"
        );
        w.put_secret("bc", "tok-one").await;
        eventually(10, "Ready again", || ready_now(&w, "prod", "True", "Ready")).await;
    }
    let _ = stop.send(());
    task.await.expect("join").expect("clean stop");
}
