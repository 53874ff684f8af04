//! The HTTP client for the central CRM (protocol sections 1, 3 and 4).

use crate::config::{CrmConfig, Secret};
use crate::domain::document::Document;
use crate::sync::feed::{self, FeedError, FeedPage};
use reqwest::StatusCode;
use serde::Serialize;
use std::time::Duration;

/// Why a CRM request did not produce a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    #[error("CRM unreachable: {0}")]
    Unreachable(String),
    /// No (whole) answer within `[crm] timeout`.
    #[error("CRM unreachable: timed out")]
    TimedOut,
    #[error("CRM answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("CRM answered {status} with something that is not JSON: {body}")]
    NotJson { status: u16, body: String },
    #[error("CRM answer is larger than {limit_mib} MiB; refused unread (for the change feed: lower [crm] page_limit)")]
    TooBig { limit_mib: usize },
    #[error(transparent)]
    Feed(#[from] FeedError),
}

/// Largest change-feed page read: `page_limit` changes (500 by default) of a few kilobytes each
/// fit many times over; a bigger answer is a misbehaving CRM or proxy, not a page.
pub const FEED_PAGE_BYTES: usize = 16 * 1024 * 1024;
/// Largest other answer read (a client's live card, a document's receipt, a ping).
pub const ANSWER_BYTES: usize = 1024 * 1024;

/// What became of one document sent to the CRM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// `200`/`201`: stored now.
    Stored,
    /// `409`: the CRM already had it under this id — delivered earlier, also success.
    Duplicate,
    /// Another `4xx` with a JSON answer: the CRM refuses this document for good.
    Rejected(String),
    /// `5xx`, a timeout, no connection, an answer that is not JSON, or the link's own
    /// `404`/`408`/`429`: try again later.
    Retry(String),
    /// `401`/`403`: the CRM does not take our token (expired, revoked). The link's fault, not
    /// the document's: retried with back-off while an alarm asks the admin to fix the token.
    TokenRejected(String),
}

#[derive(Clone)]
pub struct CrmClient {
    http: reqwest::Client,
    base: String,
    site: String,
    token: Secret,
}

/// The body of `POST …/documents`.
#[derive(Serialize)]
struct WireDocument<'a> {
    id: uuid::Uuid,
    site: &'a str,
    seq: u64,
    kind: crate::domain::document::DocumentKind,
    created_at: jiff::Timestamp,
    data: &'a serde_json::Value,
}

/// Longest piece of a CRM answer quoted in an error.
const SNIPPET: usize = 200;

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(SNIPPET).collect();
    flat.trim().to_string()
}

fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

impl CrmClient {
    pub fn new(config: &CrmConfig) -> Result<CrmClient, CrmError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout))
            .connect_timeout(Duration::from_secs(config.timeout.min(5)))
            .user_agent(concat!("storeterm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CrmError::Unreachable(e.to_string()))?;
        Ok(CrmClient {
            http,
            base: config.url.clone(),
            site: config.site.clone(),
            token: config.token.clone(),
        })
    }

    pub fn site(&self) -> &str {
        &self.site
    }

    /// The live card of a client (protocol section 2). The caller bounds the wait with its
    /// own budget; this only knows the configured request timeout.
    pub async fn client_card(&self, id: &str) -> Result<crate::domain::client::LiveCard, CrmError> {
        let mut url = reqwest::Url::parse(&self.base).map_err(|e| CrmError::Unreachable(e.to_string()))?;
        url.path_segments_mut()
            .map_err(|_| CrmError::Unreachable(format!("{} cannot be a base URL", self.base)))?
            .pop_if_empty()
            .extend(["v1", "clients", id, "card"]);
        let request = self.http.get(url).bearer_auth(self.token.expose());
        let (status, body) = send(request, ANSWER_BYTES).await?;
        if status != StatusCode::OK {
            return Err(CrmError::Status {
                status: status.as_u16(),
                body: snippet(&body),
            });
        }
        serde_json::from_slice(&body).map_err(|_| CrmError::NotJson {
            status: status.as_u16(),
            body: snippet(&body),
        })
    }

    /// One page of the change feed.
    pub async fn changes(&self, since: Option<&str>, limit: u32) -> Result<FeedPage, CrmError> {
        let url = format!("{}/v1/sites/{}/changes", self.base, self.site);
        let limit = limit.to_string();
        let mut query = vec![("limit", limit.as_str())];
        if let Some(since) = since {
            query.push(("since", since));
        }
        let request = self.http.get(url).query(&query).bearer_auth(self.token.expose());
        let (status, body) = send(request, FEED_PAGE_BYTES).await?;
        if status != StatusCode::OK {
            return Err(CrmError::Status {
                status: status.as_u16(),
                body: snippet(&body),
            });
        }
        feed::parse_page(&body).map_err(|e| match is_json(&body) {
            true => CrmError::Feed(e),
            false => CrmError::NotJson {
                status: status.as_u16(),
                body: snippet(&body),
            },
        })
    }

    /// Deliver one document, with its id as the idempotency key.
    pub async fn push(&self, document: &Document) -> PushOutcome {
        let url = format!("{}/v1/sites/{}/documents", self.base, self.site);
        let body = WireDocument {
            id: document.doc.id,
            site: &self.site,
            seq: document.seq,
            kind: document.doc.kind,
            created_at: document.doc.created_at,
            data: &document.doc.data,
        };
        let request = self
            .http
            .post(url)
            .bearer_auth(self.token.expose())
            .header("Idempotency-Key", document.doc.id.to_string())
            .json(&body);
        match send(request, ANSWER_BYTES).await {
            Err(e) => PushOutcome::Retry(e.to_string()),
            Ok((status, body)) => classify(status, &body),
        }
    }

    /// `GET /v1/sites/{site}/documents/last` (protocol v1.1): the highest `seq` the CRM holds
    /// for this site. A `404` means the CRM does not offer the route.
    pub async fn last_document(&self) -> Result<crate::store::SeqBase, CrmError> {
        #[derive(serde::Deserialize)]
        struct Last {
            seq: u64,
        }
        let url = format!("{}/v1/sites/{}/documents/last", self.base, self.site);
        let (status, body) = send(self.http.get(url).bearer_auth(self.token.expose()), ANSWER_BYTES).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(crate::store::SeqBase::NotOffered);
        }
        if status != StatusCode::OK {
            return Err(CrmError::Status {
                status: status.as_u16(),
                body: snippet(&body),
            });
        }
        let last: Last = serde_json::from_slice(&body).map_err(|_| CrmError::NotJson {
            status: status.as_u16(),
            body: snippet(&body),
        })?;
        Ok(crate::store::SeqBase::Crm { last: last.seq })
    }

    /// `GET /v1/ping`: is the CRM there?
    pub async fn ping(&self) -> Result<(), CrmError> {
        let request = self.http.get(format!("{}/v1/ping", self.base)).bearer_auth(self.token.expose());
        let (status, body) = send(request, ANSWER_BYTES).await?;
        match (status.is_success(), is_json(&body)) {
            (true, true) => Ok(()),
            (true, false) => Err(CrmError::NotJson {
                status: status.as_u16(),
                body: snippet(&body),
            }),
            (false, _) => Err(CrmError::Status {
                status: status.as_u16(),
                body: snippet(&body),
            }),
        }
    }
}

/// Send `request` and read its answer, at most `limit` bytes of it: an answer announced or
/// found to be larger is refused (and the connection dropped) before it fills memory.
async fn send(request: reqwest::RequestBuilder, limit: usize) -> Result<(StatusCode, bytes::Bytes), CrmError> {
    let too_big = CrmError::TooBig {
        limit_mib: limit.div_ceil(1024 * 1024),
    };
    let mut response = request.send().await.map_err(transport)?;
    let status = response.status();
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return Err(too_big);
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > limit {
            return Err(too_big);
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body.freeze()))
}

fn transport(e: reqwest::Error) -> CrmError {
    if e.is_timeout() {
        CrmError::TimedOut
    } else {
        CrmError::Unreachable(describe(&e))
    }
}

/// A transport error in words, with its cause chain ("timed out", "connection refused").
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() { "timed out".to_string() } else { e.to_string() };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Map a CRM answer to what the outbox does next (protocol section 3, "Answers").
fn classify(status: StatusCode, body: &[u8]) -> PushOutcome {
    let code = status.as_u16();
    if !is_json(body) {
        // An HTML error page from a proxy, an empty 200 from a misrouted URL: the document
        // was not demonstrably stored, so it is sent again later.
        return PushOutcome::Retry(format!("CRM answered {code} with something that is not JSON: {}", snippet(body)));
    }
    match code {
        200 | 201 => PushOutcome::Stored,
        409 => PushOutcome::Duplicate,
        401 | 403 => PushOutcome::TokenRejected(format!("CRM answered {code}: {}", snippet(body))),
        // 404 on the documents route itself (a wrong [crm] url or site), a timeout, a rate
        // limit: nothing is wrong with the document.
        404 | 408 | 429 => PushOutcome::Retry(format!("CRM answered {code}: {}", snippet(body))),
        400..=499 => PushOutcome::Rejected(format!("{code}: {}", snippet(body))),
        _ => PushOutcome::Retry(format!("CRM answered {code}: {}", snippet(body))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A CRM on loopback that answers every request with `head` and then `body_len` bytes of
    /// `[`, in 64 KiB writes; returns its base URL.
    async fn crm_answering(head: String, body_len: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let head = head.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    socket.write_all(head.as_bytes()).await?;
                    let chunk = vec![b'['; 64 * 1024];
                    let mut sent = 0;
                    while sent < body_len {
                        let n = chunk.len().min(body_len - sent);
                        socket.write_all(&chunk[..n]).await?;
                        sent += n;
                    }
                    std::io::Result::Ok(())
                });
            }
        });
        base
    }

    fn client(base: String) -> CrmClient {
        CrmClient::new(&CrmConfig {
            url: base,
            site: "shop-1".into(),
            token: Secret::new("secret-token"),
            pull_interval: 30,
            page_limit: 500,
            timeout: 30,
            retry_cap: 60,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn an_answer_larger_than_the_cap_is_an_error_not_a_buffer() {
        // Announced: refused before a byte of the body is read.
        let announced = crm_answering(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                FEED_PAGE_BYTES + 1
            ),
            0,
        )
        .await;
        let err = client(announced).changes(None, 500).await.unwrap_err();
        assert!(matches!(err, CrmError::TooBig { limit_mib: 16 }), "{err}");
        // Not announced (read until the connection closes): refused once past the cap.
        let streamed = crm_answering(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".into(),
            ANSWER_BYTES + 64 * 1024,
        )
        .await;
        let crm = client(streamed);
        assert!(matches!(crm.client_card("C-1").await, Err(CrmError::TooBig { limit_mib: 1 })));
        let pushed = crm.ping().await.unwrap_err();
        assert!(pushed.to_string().contains("larger than 1 MiB"), "{pushed}");
    }

    #[test]
    fn answers_map_to_the_protocol() {
        let json = br#"{"ok": true}"#;
        assert_eq!(classify(StatusCode::CREATED, json), PushOutcome::Stored);
        assert_eq!(classify(StatusCode::OK, json), PushOutcome::Stored);
        assert_eq!(classify(StatusCode::CONFLICT, json), PushOutcome::Duplicate);
        assert!(
            matches!(classify(StatusCode::UNPROCESSABLE_ENTITY, br#"{"error": "no such item"}"#), PushOutcome::Rejected(r) if r.contains("no such item"))
        );
        assert!(matches!(classify(StatusCode::SERVICE_UNAVAILABLE, json), PushOutcome::Retry(_)));
        assert!(matches!(classify(StatusCode::TOO_MANY_REQUESTS, json), PushOutcome::Retry(_)));
        assert!(matches!(classify(StatusCode::REQUEST_TIMEOUT, json), PushOutcome::Retry(_)));
        assert!(matches!(classify(StatusCode::NOT_FOUND, json), PushOutcome::Retry(_)));
        assert!(matches!(classify(StatusCode::UNAUTHORIZED, json), PushOutcome::TokenRejected(r) if r.contains("401")));
        assert!(matches!(classify(StatusCode::FORBIDDEN, json), PushOutcome::TokenRejected(_)));
        assert!(matches!(classify(StatusCode::OK, b"<html>login</html>"), PushOutcome::Retry(_)));
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, b"<html>nginx</html>"),
            PushOutcome::Retry(_)
        ));
        assert!(matches!(classify(StatusCode::OK, b""), PushOutcome::Retry(_)));
    }
}
