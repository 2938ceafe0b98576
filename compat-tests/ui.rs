//! The web UI over plain HTTP (the browser suite in compat-tests/ui drives it in chromium):
//! sign-in with CSRF, cookie attributes, security headers, project scoping, sign-out.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::json;

use crate::helpers::{create_project_with_key, spawn_app, TestApp};
use crate::seed::Seed;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// `name=value` of the Set-Cookie header for `name`, with its attributes.
fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

fn form_csrf(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([0-9a-f]+)""#).unwrap();
    re.captures(html).expect("form has a csrf field")[1].to_string()
}

/// Signs in with a key pair; returns the session cookie value.
async fn sign_in(app: &TestApp, pk: &str, sk: &str, next: Option<&str>) -> reqwest::Response {
    let c = client();
    let res = c.get(app.url("/auth/sign-in")).send().await.unwrap();
    let csrf_cookie = cookie_value(&set_cookie(&res, "xtrace_csrf").expect("csrf cookie"));
    let csrf = form_csrf(&res.text().await.unwrap());
    let mut form = vec![
        ("csrf", csrf),
        ("public_key", pk.into()),
        ("secret_key", sk.into()),
    ];
    if let Some(n) = next {
        form.push(("next", n.into()));
    }
    c.post(app.url("/auth/sign-in"))
        .header(COOKIE, format!("xtrace_csrf={csrf_cookie}"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_in_scopes_pages_to_the_key_project_and_sign_out_ends_it() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    seed.trace(
        "mine",
        "2024-05-01T10:00:00.000Z",
        json!({"name": "my-trace"}),
    )
    .await;
    let (other, _, _) = create_project_with_key(&app, "other").await;
    seed.for_project(&other)
        .trace(
            "theirs",
            "2024-05-01T10:00:00.000Z",
            json!({"name": "their-trace"}),
        )
        .await;
    let c = client();

    // Signed out: a deep link goes to sign-in, carrying the link.
    let res = c
        .get(app.url("/project/default/traces/mine?observation=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()[LOCATION],
        "/auth/sign-in?next=%2Fproject%2Fdefault%2Ftraces%2Fmine%3Fobservation%3Dx"
    );

    // The sign-in page: strict CSP, no framing, a CSRF cookie that is HttpOnly.
    let res = c.get(app.url("/auth/sign-in")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    let csrf_cookie = set_cookie(&res, "xtrace_csrf").unwrap();
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"));

    // A post whose token does not match the cookie is refused.
    let res = c
        .post(app.url("/auth/sign-in"))
        .header(COOKIE, "xtrace_csrf=aaaa")
        .form(&[
            ("csrf", "bbbb"),
            ("public_key", app.public_key.as_str()),
            ("secret_key", app.secret_key.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(set_cookie(&res, "xtrace_session").is_none());

    // A wrong secret is refused; the right pair signs in and follows `next`.
    let res = sign_in(&app, &app.public_key, "sk-lf-wrong", None).await;
    assert_eq!(res.status(), 401);
    let res = sign_in(
        &app,
        &app.public_key,
        &app.secret_key,
        Some("/project/default/scores"),
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/project/default/scores");
    let session = set_cookie(&res, "xtrace_session").expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    assert!(!session.contains("Secure"), "plain http: {session}");
    let cookie = format!("xtrace_session={}", cookie_value(&session));

    // An external `next` is not followed.
    let res = sign_in(
        &app,
        &app.public_key,
        &app.secret_key,
        Some("//evil.example/x"),
    )
    .await;
    assert_eq!(res.headers()[LOCATION], "/project/default/traces");

    let get = |path: &str| c.get(app.url(path)).header(COOKIE, cookie.clone()).send();
    let res = get("/project/default/traces").await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("my-trace") && !html.contains("their-trace"));
    assert!(!html.contains(&app.secret_key));
    let res = get("/project/default/traces/mine").await.unwrap();
    assert_eq!(res.status(), 200);
    for path in [
        format!("/project/{other}/traces"),
        format!("/project/{other}/traces/theirs"),
        "/project/default/traces/theirs".to_string(),
        format!("/ui/live/project/{other}/traces?after=2000-01-01T00:00:00Z"),
    ] {
        let res = get(&path).await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
        assert!(!res.text().await.unwrap().contains("their-trace"), "{path}");
    }

    // Sign-out needs the session's CSRF token.
    let html = get("/project/default/traces")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = form_csrf(&html);
    let res = c
        .post(app.url("/auth/sign-out"))
        .header(COOKIE, cookie.clone())
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = c
        .post(app.url("/auth/sign-out"))
        .header(COOKIE, cookie.clone())
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = get("/project/default/traces").await.unwrap();
    assert_eq!(res.status(), 303, "the session is gone server-side");
}

#[tokio::test]
async fn session_cookie_is_secure_behind_https_and_admin_may_switch_projects() {
    let app = spawn_app().await;
    let (other, _, _) = create_project_with_key(&app, "second").await;
    let c = client();
    let res = c.get(app.url("/auth/sign-in")).send().await.unwrap();
    let csrf_cookie = cookie_value(&set_cookie(&res, "xtrace_csrf").unwrap());
    let csrf = form_csrf(&res.text().await.unwrap());
    let res = c
        .post(app.url("/auth/sign-in"))
        .header(COOKIE, format!("xtrace_csrf={csrf_cookie}"))
        .header("X-Forwarded-Proto", "https")
        .form(&[
            ("csrf", csrf.as_str()),
            ("admin_token", app.bearer_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let session = set_cookie(&res, "xtrace_session").unwrap();
    assert!(session.contains("Secure"), "{session}");
    let cookie = format!("xtrace_session={}", cookie_value(&session));
    let html = c
        .get(app.url("/project/default/traces"))
        .header(COOKIE, cookie.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("value=\"{other}\"")),
        "project switcher lists it"
    );
    let token = form_csrf(&html);
    let res = c
        .post(app.url("/auth/project"))
        .header(COOKIE, cookie.clone())
        .form(&[("csrf", token.as_str()), ("project", other.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], format!("/project/{other}/traces"));
    let res = c
        .post(app.url("/auth/project"))
        .header(COOKIE, cookie.clone())
        .form(&[("csrf", token.as_str()), ("project", "no-such-project")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn an_expired_session_signs_out() {
    let app = spawn_app().await;
    let res = sign_in(&app, &app.public_key, &app.secret_key, None).await;
    let cookie = format!(
        "xtrace_session={}",
        cookie_value(&set_cookie(&res, "xtrace_session").unwrap())
    );
    let get = || {
        client()
            .get(app.url("/project/default/sessions"))
            .header(COOKIE, cookie.clone())
            .send()
    };
    assert_eq!(get().await.unwrap().status(), 200);
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    sqlx::query("update ui_sessions set expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let res = get().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()[LOCATION],
        "/auth/sign-in?next=%2Fproject%2Fdefault%2Fsessions"
    );
}
