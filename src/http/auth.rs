//! Authentication: every `/api` call carries `Authorization: Bearer <token>`; the token names
//! a person and a role, and each call checks the role it needs.

use super::{ApiError, AppState};
use crate::config::{Role, TokenConfig};
use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Serialize;

/// Who is calling.
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// An operator's phone extensions (empty for other roles).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
}

impl Principal {
    /// Allow the call only for these roles.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "это доступно роли {}; ваш токен — роли {}",
                    allowed.join(" или "),
                    self.role.as_str()
                ),
            ))
        }
    }
}

/// The configured tokens.
pub struct Tokens {
    entries: Vec<(Vec<u8>, Principal)>,
}

impl Tokens {
    pub fn new(config: &[TokenConfig]) -> Tokens {
        Tokens {
            entries: config
                .iter()
                .map(|t| {
                    (
                        t.token.expose().as_bytes().to_vec(),
                        Principal {
                            name: t.name.clone(),
                            role: t.role,
                            extensions: t.extensions.clone(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// Find the principal for a presented token. Every configured token is compared in full,
    /// in time independent of where the bytes differ, so response timing reveals nothing.
    pub fn authenticate(&self, presented: &[u8]) -> Option<&Principal> {
        let mut found = None;
        for (token, principal) in &self.entries {
            if constant_time_eq(token, presented) {
                found = Some(principal);
            }
        }
        found
    }
}

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("нужен заголовок Authorization: Bearer <токен>"))?;
        let token = header
            .as_bytes()
            .strip_prefix(b"Bearer ")
            .ok_or_else(|| unauthorized("заголовок Authorization пишется так: \"Bearer <токен>\""))?;
        state
            .inner
            .tokens
            .authenticate(token)
            .cloned()
            .ok_or_else(|| unauthorized("Токен не подошёл"))
    }
}

/// `GET /api/v1/whoami`: the caller's name and role (the screens show it).
pub async fn whoami(principal: Principal) -> Json<Principal> {
    Json(principal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn tokens_match_exactly() {
        let tokens = Tokens::new(&[TokenConfig {
            token: Secret::new("cashier-token-1"),
            role: Role::Cashier,
            name: "Анна".into(),
            extensions: vec![],
        }]);
        assert_eq!(tokens.authenticate(b"cashier-token-1").unwrap().name, "Анна");
        assert!(tokens.authenticate(b"cashier-token-2").is_none());
        assert!(tokens.authenticate(b"cashier-token-").is_none());
        assert!(tokens.authenticate(b"").is_none());
    }
}
