//! Request bodies of the write routes: admitted against the ingest byte budget before
//! they are read, bounded by `XTRACE_MAX_BODY_BYTES` both as sent and as decompressed,
//! and decompressed off the async threads with the bound applied while inflating.
//!
//! The admission grows with the bytes held (the body as read, then as decompressed) and
//! is released when the handler drops it, after the answer; a full budget is a 503 with
//! `Retry-After`, so memory held by bodies in flight never exceeds the budget however
//! many clients send at once.

use std::io::Read;

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use crate::error::{self, ApiError};
use crate::ingest::{Admission, IngestHandle};

/// What is admitted for a body whose length is not declared, before its first bytes.
const UNDECLARED_START: usize = 64 * 1024;

/// Compressed bodies larger than this are inflated on the blocking pool.
const INLINE_INFLATE: usize = 4 * 1024;

/// Inflated bytes between two checks of the limit and the budget.
const INFLATE_STEP: usize = 64 * 1024;

/// A body as the handler uses it, with the budget it holds.
#[derive(Debug)]
pub struct AdmittedBody {
    /// The decompressed bytes.
    pub bytes: Vec<u8>,
    /// Released when dropped.
    pub admission: Admission,
}

/// A `Content-Encoding` xtrace can inflate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// gzip (`x-gzip` too).
    Gzip,
    /// zlib-wrapped deflate, as HTTP's `deflate` is.
    Deflate,
    /// Brotli.
    Brotli,
    /// Zstandard.
    Zstd,
}

/// Why a body could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InflateError {
    /// Not valid data of the encoding.
    Corrupt,
    /// It inflates beyond the limit.
    TooLarge,
    /// An encoding xtrace does not know.
    Unsupported(String),
    /// The byte budget of bodies in flight cannot hold the inflated body.
    Overloaded,
}

/// The codings of a `Content-Encoding` header, in the order they were applied.
pub fn codings(value: Option<&str>) -> Result<Vec<Coding>, InflateError> {
    let Some(v) = value else {
        return Ok(Vec::new());
    };
    v.split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .map(|c| match c.as_str() {
            "gzip" | "x-gzip" => Ok(Coding::Gzip),
            "deflate" => Ok(Coding::Deflate),
            "br" => Ok(Coding::Brotli),
            "zstd" => Ok(Coding::Zstd),
            other => Err(InflateError::Unsupported(other.to_string())),
        })
        .collect()
}

/// Inflates `body` (encoded with `codings`, in order) to at most `limit` bytes; reading
/// stops as soon as the output passes the limit, so a small bomb costs `limit` at most.
/// `reserve` is told the bytes held every 64 KiB and may refuse (a full budget).
pub fn inflate(
    mut body: Vec<u8>,
    codings: &[Coding],
    limit: usize,
    reserve: &mut dyn FnMut(usize) -> bool,
) -> Result<Vec<u8>, InflateError> {
    for coding in codings.iter().rev() {
        let src: &[u8] = &body;
        let reader: Box<dyn Read + '_> = match coding {
            Coding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(src)),
            Coding::Deflate => Box::new(flate2::read::ZlibDecoder::new(src)),
            Coding::Brotli => Box::new(brotli::Decompressor::new(src, 64 * 1024)),
            Coding::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(src).map_err(|_| InflateError::Corrupt)?,
            ),
        };
        let mut reader = reader.take(limit as u64 + 1);
        let mut out = Vec::new();
        loop {
            if !reserve(body.len() + out.len() + INFLATE_STEP) {
                return Err(InflateError::Overloaded);
            }
            let n = (&mut reader)
                .take(INFLATE_STEP as u64)
                .read_to_end(&mut out)
                .map_err(|_| InflateError::Corrupt)?;
            if out.len() > limit {
                return Err(InflateError::TooLarge);
            }
            if n == 0 {
                break;
            }
        }
        drop(reader);
        body = out;
    }
    Ok(body)
}

/// Reads `payload` as sent (no decompression), admitted against the budget as it grows.
async fn read_raw(
    req: &HttpRequest,
    mut stream: actix_web::dev::Payload,
    limit: usize,
    ingest: &IngestHandle,
) -> Result<(Vec<u8>, Admission), ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut admission = ingest.admit(declared.unwrap_or(UNDECLARED_START.min(limit)))?;
    let mut buf = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| error::payload_error(e, limit))?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        if buf.len() + chunk.len() > admission.bytes() {
            admission.grow_to(
                (buf.len() + chunk.len())
                    .max(admission.bytes() * 2)
                    .min(limit),
            )?;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((buf, admission))
}

/// Reads and inflates a write route's body. Errors: 413 past the limit (as sent or as
/// inflated), 503 when the byte budget is full, `bad_encoding` for bodies that do not
/// inflate (each route answers those in its own shape).
pub async fn read_admitted<E>(
    req: &HttpRequest,
    payload: actix_web::dev::Payload,
    limit: usize,
    ingest: &IngestHandle,
    bad_encoding: impl FnOnce(InflateError) -> E,
) -> Result<AdmittedBody, E>
where
    E: From<ApiError>,
{
    let codings = match codings(
        req.headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    ) {
        Ok(c) => c,
        Err(e) => return Err(bad_encoding(e)),
    };
    let (raw, mut admission) = read_raw(req, payload, limit, ingest).await?;
    if codings.is_empty() {
        return Ok(AdmittedBody {
            bytes: raw,
            admission,
        });
    }
    let raw_len = raw.len();
    let run = move || {
        let mut reserve = |bytes: usize| admission.grow_to(bytes.min(2 * limit)).is_ok();
        let out = inflate(raw, &codings, limit, &mut reserve);
        (out, admission)
    };
    let (inflated, admission) = if raw_len <= INLINE_INFLATE {
        run()
    } else {
        tokio::task::spawn_blocking(run)
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("decompression task failed: {e}")))?
    };
    match inflated {
        Ok(bytes) => Ok(AdmittedBody { bytes, admission }),
        Err(InflateError::TooLarge) => Err(ApiError::PayloadTooLarge { limit }.into()),
        Err(InflateError::Overloaded) => Err(ApiError::Overloaded.into()),
        Err(e) => Err(bad_encoding(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn every_coding_inflates_and_stops_at_the_limit() {
        let data = vec![b'a'; 100_000];
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&data).unwrap();
        let zlib = z.finish().unwrap();
        let mut br = Vec::new();
        brotli::CompressorWriter::new(&mut br, 4096, 5, 22)
            .write_all(&data)
            .unwrap();
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        for (coding, body) in [
            (Coding::Gzip, gzip(&data)),
            (Coding::Deflate, zlib),
            (Coding::Brotli, br),
            (Coding::Zstd, zst),
        ] {
            assert_eq!(
                inflate(body.clone(), &[coding], 100_000, &mut |_| true).unwrap(),
                data,
                "{coding:?}"
            );
            assert_eq!(
                inflate(body, &[coding], 99_999, &mut |_| true),
                Err(InflateError::TooLarge),
                "{coding:?}"
            );
        }
    }

    #[test]
    fn a_bomb_is_cut_at_the_limit_and_garbage_is_corrupt() {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![0u8; 50 << 20]).unwrap();
        let bomb = e.finish().unwrap();
        assert!(bomb.len() < 200 << 10, "{}", bomb.len());
        let mut peak = 0;
        let mut track = |n: usize| {
            peak = peak.max(n);
            true
        };
        assert_eq!(
            inflate(bomb.clone(), &[Coding::Gzip], 1 << 20, &mut track),
            Err(InflateError::TooLarge)
        );
        assert!(
            peak <= (1 << 20) + bomb.len() + 2 * INFLATE_STEP,
            "held {peak}"
        );
        assert_eq!(
            inflate(bomb, &[Coding::Gzip], 1 << 20, &mut |n| n < 200_000),
            Err(InflateError::Overloaded)
        );
        assert_eq!(
            inflate(b"not gzip".to_vec(), &[Coding::Gzip], 1 << 20, &mut |_| {
                true
            }),
            Err(InflateError::Corrupt)
        );
    }

    #[test]
    fn content_encoding_lists_are_parsed_in_order() {
        assert_eq!(codings(None), Ok(vec![]));
        assert_eq!(codings(Some("identity")), Ok(vec![]));
        assert_eq!(
            codings(Some("gzip, br")),
            Ok(vec![Coding::Gzip, Coding::Brotli])
        );
        assert!(matches!(
            codings(Some("compress")),
            Err(InflateError::Unsupported(_))
        ));
    }
}

/// A JSON body of a write route read through [`read_admitted`]; the admission is held
/// until the extractor is dropped (after the handler answered). Errors are those of the
/// JSON extractor elsewhere: 400 for a wrong content type or bad JSON, 413, 503.
#[derive(Debug)]
pub struct AdmittedJson {
    /// The parsed body.
    pub value: serde_json::Value,
    /// Released when dropped.
    pub admission: Admission,
}

impl AdmittedJson {
    /// The parsed body, keeping the admission alive in `self`'s place.
    pub fn into_parts(self) -> (serde_json::Value, Admission) {
        (self.value, self.admission)
    }
}

/// Parses JSON, on the blocking pool when the body is large.
pub async fn parse_json(bytes: Vec<u8>) -> Result<serde_json::Value, serde_json::Error> {
    if bytes.len() <= PARSE_INLINE {
        return serde_json::from_slice(&bytes);
    }
    tokio::task::spawn_blocking(move || serde_json::from_slice(&bytes))
        .await
        .unwrap_or_else(|e| {
            Err(serde::de::Error::custom(format!(
                "JSON parsing task failed: {e}"
            )))
        })
}

/// Bodies up to this size are parsed on the async thread.
const PARSE_INLINE: usize = 256 * 1024;

/// The API error for a body that does not inflate (a 400, or 503 when the budget is full).
pub(crate) fn inflate_error(e: InflateError) -> ApiError {
    match e {
        InflateError::Unsupported(c) => {
            ApiError::InvalidRequest(format!("Unsupported Content-Encoding: {c}"))
        }
        InflateError::Overloaded => ApiError::Overloaded,
        InflateError::TooLarge | InflateError::Corrupt => ApiError::InvalidRequest(
            "Cannot read request body: it does not decompress with its Content-Encoding".into(),
        ),
    }
}

impl actix_web::FromRequest for AdmittedJson {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<crate::startup::AppState>>()
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))?
                .clone();
            let json = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    v.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase()
                })
                .is_some_and(|m| m == "application/json" || m.ends_with("+json"));
            if !json {
                return Err(ApiError::InvalidRequest(
                    "Invalid content type: expected application/json".into(),
                ));
            }
            let limit = state.config.max_body_bytes;
            let body = read_admitted(&req, payload, limit, &state.ingest, inflate_error).await?;
            let value = parse_json(body.bytes)
                .await
                .map_err(|e| ApiError::InvalidRequest(format!("Invalid JSON body: {e}")))?;
            Ok(AdmittedJson {
                value,
                admission: body.admission,
            })
        })
    }
}
