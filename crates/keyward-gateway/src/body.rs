//! The body of the gateway's answers: the upstream's, streamed as it arrives, or one the
//! gateway wrote itself.

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;

pub type GatewayBody = Either<Incoming, Full<Bytes>>;

/// A body the gateway wrote.
pub fn full(bytes: Bytes) -> GatewayBody {
    Either::Right(Full::new(bytes))
}

/// The upstream's body, streamed.
pub fn streamed(body: Incoming) -> GatewayBody {
    Either::Left(body)
}
