//! A connection whose request body was not read to its end is closed after the answer.
//!
//! actix already does so for a body with `Content-Length` (after a 1 s linger), but a
//! `chunked` body that no handler read is drained after the answer for as long as the client
//! keeps the connection open: for ever, if it sends nothing more. A chunked `POST /healthz`
//! that never ends would then hold one of `server.max_connections` with no limit, whatever
//! `server.request_head_timeout` and `login.body_timeout` say. The same happened to a `/login`
//! body cut by its deadline, since the handler drops the body stream when it answers 408.
//!
//! [`close_unread_bodies`] keeps the request's body stream alive until the answer has been
//! written, which makes actix treat an unread chunked body like an unread sized one:
//! `Connection: close`, then the connection is closed. A body read in full changes nothing:
//! keep-alive works as before.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use futures_core::Stream;

/// The request's body stream, shared by the handler (which reads it) and the answer (which
/// holds it until it is sent).
#[derive(Clone)]
struct Shared(Rc<RefCell<Payload>>);

impl Stream for Shared {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_next(cx)
    }
}

/// An answer's body that holds the request's body stream until it has been written.
pub struct HoldingBody {
    body: BoxBody,
    _request_body: Option<Shared>,
}

impl MessageBody for HoldingBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// The middleware (`App::wrap(from_fn(close_unread_bodies))`).
pub async fn close_unread_bodies(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<HoldingBody>, actix_web::Error> {
    let request_body = match req.take_payload() {
        Payload::None => None,
        payload => {
            let shared = Shared(Rc::new(RefCell::new(payload)));
            req.set_payload(Payload::Stream {
                payload: Box::pin(shared.clone()),
            });
            Some(shared)
        }
    };
    // The handlers and middlewares inside answer their errors themselves, so an `Err` here
    // (then answered by actix without the body held) does not happen. The request is not
    // cloned to keep one for that case: routing needs it unshared.
    let res = next.call(req).await?;
    Ok(res.map_body(|_, body| HoldingBody {
        body: body.boxed(),
        _request_body: request_body,
    }))
}
