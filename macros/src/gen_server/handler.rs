//! The handlers of a `#[gen_server]` impl block: which methods are handlers, what their
//! parameters mean, and the checks that reject a block the expansion cannot serve.

use quote::format_ident;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Ident, ImplItemFn, Pat, PathArguments, ReturnType, Type};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    Call,
    Cast,
    Info,
    Init,
    Terminate,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Call => "call",
            Kind::Cast => "cast",
            Kind::Info => "info",
            Kind::Init => "init",
            Kind::Terminate => "terminate",
        }
    }
}

/// One parameter of a handler, in the user's order.
pub(super) enum Param {
    /// A message argument: becomes a field of the request, with the `#[serde(..)]`
    /// attributes written on it (`#[serde(with = "serde_bytes")]`).
    Msg(Ident, Type, Vec<syn::Attribute>),
    /// `&mut ServerCtx<Self>` (or `Ctx`).
    Ctx,
    /// `ReplyHandle<T>`: the call is answered later; `T` is the reply.
    Reply(Type),
    /// `Signal<..>`: the info handler for system signals.
    Signal,
    /// `&ExitReason`, for terminate.
    Reason,
}

pub(super) struct Handler {
    pub(super) kind: Kind,
    pub(super) ident: Ident,
    pub(super) is_async: bool,
    pub(super) params: Vec<Param>,
    /// The return type, if not `()`.
    pub(super) ret: Option<Type>,
}

impl Handler {
    pub(super) fn msgs(&self) -> impl Iterator<Item = (&Ident, &Type)> {
        self.params.iter().filter_map(|p| match p {
            Param::Msg(i, t, _) => Some((i, t)),
            _ => None,
        })
    }

    /// The message arguments' `#[serde(..)]` attributes and types, in order.
    pub(super) fn msg_fields(&self) -> impl Iterator<Item = (&[syn::Attribute], &Type)> {
        self.params.iter().filter_map(|p| match p {
            Param::Msg(_, t, a) => Some((a.as_slice(), t)),
            _ => None,
        })
    }

    pub(super) fn reply_later(&self) -> Option<&Type> {
        self.params.iter().find_map(|p| match p {
            Param::Reply(t) => Some(t),
            _ => None,
        })
    }

    pub(super) fn takes_signal(&self) -> bool {
        self.params.iter().any(|p| matches!(p, Param::Signal))
    }

    pub(super) fn returns_flow(&self) -> bool {
        self.ret
            .as_ref()
            .is_some_and(|t| last_segment(t).is_some_and(|s| s == "Flow"))
    }

    pub(super) fn variant(&self) -> Ident {
        Ident::new(&pascal(&self.ident.to_string()), self.ident.span())
    }
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn last_segment(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

fn first_generic(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let PathArguments::AngleBracketed(args) = &p.path.segments.last()?.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    })
}

/// Takes the `#[serde(..)]` attributes off a handler's arguments (they go on the message
/// enum's fields; on a function argument the compiler would refuse them).
pub(super) fn strip_serde_attrs(f: &mut ImplItemFn) {
    for arg in &mut f.sig.inputs {
        if let FnArg::Typed(pt) = arg {
            pt.attrs.retain(|a| !a.path().is_ident("serde"));
        }
    }
}

/// Takes the handler attribute off a method; `Ok(None)` for a plain method.
pub(super) fn take_kind(f: &mut ImplItemFn) -> syn::Result<Option<Kind>> {
    let mut kind = None;
    let mut err: Option<syn::Error> = None;
    f.attrs.retain(|a| {
        let Some(id) = a.path().get_ident() else {
            return true;
        };
        let k = match id.to_string().as_str() {
            "call" => Kind::Call,
            "cast" => Kind::Cast,
            "info" => Kind::Info,
            "init" => Kind::Init,
            "terminate" => Kind::Terminate,
            _ => return true,
        };
        if !matches!(a.meta, syn::Meta::Path(_)) {
            let e = syn::Error::new(a.span(), format!("#[{}] takes no arguments", k.attr()));
            combine(&mut err, e);
        } else if kind.is_some() {
            combine(
                &mut err,
                syn::Error::new(a.span(), "a method can be only one kind of handler"),
            );
        }
        kind = Some(k);
        false
    });
    match err {
        Some(e) => Err(e),
        None => Ok(kind),
    }
}

pub(super) fn combine(acc: &mut Option<syn::Error>, e: syn::Error) {
    match acc {
        Some(a) => a.combine(e),
        None => *acc = Some(e),
    }
}

fn is_ctx(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => {
            r.mutability.is_some()
                && last_segment(&r.elem).is_some_and(|s| s == "ServerCtx" || s == "Ctx")
        }
        _ => false,
    }
}

pub(super) fn parse_handler(kind: Kind, f: &ImplItemFn) -> syn::Result<Handler> {
    let sig = &f.sig;
    let what = kind.attr();
    match sig.inputs.first() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_some() => {}
        Some(other) => {
            return Err(syn::Error::new(
                other.span(),
                format!("a #[{what}] handler takes `&mut self` first"),
            ));
        }
        None => {
            return Err(syn::Error::new(
                sig.span(),
                format!("a #[{what}] handler takes `&mut self` first"),
            ));
        }
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "handlers cannot be generic",
        ));
    }
    let mut params = Vec::new();
    for (i, arg) in sig.inputs.iter().skip(1).enumerate() {
        let FnArg::Typed(pt) = arg else { continue };
        let ty = &*pt.ty;
        let name = match &*pt.pat {
            Pat::Ident(p) => p.ident.clone(),
            _ => format_ident!("arg{}", i),
        };
        let param = if is_ctx(ty) {
            Param::Ctx
        } else if last_segment(ty).is_some_and(|s| s == "ReplyHandle") {
            if kind != Kind::Call {
                return Err(syn::Error::new(
                    ty.span(),
                    "only a #[call] handler takes a ReplyHandle",
                ));
            }
            let t = first_generic(ty).ok_or_else(|| {
                syn::Error::new(ty.span(), "write the reply type: ReplyHandle<T>")
            })?;
            Param::Reply(t)
        } else if kind == Kind::Info && last_segment(ty).is_some_and(|s| s == "Signal") {
            Param::Signal
        } else if kind == Kind::Terminate
            && matches!(ty, Type::Reference(r) if last_segment(&r.elem).is_some_and(|s| s == "ExitReason"))
        {
            Param::Reason
        } else if let Type::Reference(_) = ty {
            return Err(syn::Error::new(
                ty.span(),
                "handler arguments are messages and must be owned values (they are moved into the mailbox, or sent between nodes): take `String`, not `&str`",
            ));
        } else {
            if matches!(kind, Kind::Init | Kind::Terminate) {
                return Err(syn::Error::new(
                    ty.span(),
                    format!(
                        "a #[{what}] handler takes only the context (and, for terminate, `&ExitReason`)"
                    ),
                ));
            }
            let serde_attrs = pt
                .attrs
                .iter()
                .filter(|a| a.path().is_ident("serde"))
                .cloned()
                .collect();
            Param::Msg(name, ty.clone(), serde_attrs)
        };
        params.push(param);
    }
    let ret = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, t) => match &**t {
            Type::Tuple(tup) if tup.elems.is_empty() => None,
            t => Some(t.clone()),
        },
    };
    let h = Handler {
        kind,
        ident: sig.ident.clone(),
        is_async: sig.asyncness.is_some(),
        params,
        ret,
    };
    if kind == Kind::Call && h.reply_later().is_some() && h.ret.is_some() {
        return Err(syn::Error::new(
            sig.output.span(),
            "a #[call] handler that takes a ReplyHandle answers through it and returns nothing",
        ));
    }
    if kind == Kind::Info {
        let msgs = h.msgs().count();
        if (h.takes_signal() && msgs > 0) || (!h.takes_signal() && msgs != 1) {
            return Err(syn::Error::new(
                sig.span(),
                "an #[info] handler takes exactly one message argument, or one `Signal<..>` argument",
            ));
        }
    }
    if matches!(kind, Kind::Call | Kind::Init | Kind::Terminate)
        && h.returns_flow()
        && kind != Kind::Init
    {
        return Err(syn::Error::new(
            sig.output.span(),
            format!(
                "a #[{what}] handler stops the server with `ctx.stop(reason)`, not by returning Flow"
            ),
        ));
    }
    Ok(h)
}

/// Names the typed client already uses; a handler of that name would clash.
pub(super) const RESERVED: &[&str] = &[
    "timeout",
    "with_timeout",
    "inner",
    "into_inner",
    "pid",
    "stop",
    "start",
    "client",
];

/// Checks the handlers together: no two of one name, no name the generated code uses, one
/// `#[init]`, one `#[terminate]`, one `#[info]` taking `Signal<..>`. Errors are added to
/// `errors`.
pub(super) fn check_together(handlers: &[Handler], errors: &mut Option<syn::Error>) {
    // Two handlers with one name, or a name the generated code needs.
    for (i, h) in handlers.iter().enumerate() {
        if handlers[..i].iter().any(|o| o.ident == h.ident) {
            combine(
                errors,
                syn::Error::new(
                    h.ident.span(),
                    format!("two handlers are named `{}`", h.ident),
                ),
            );
        }
        if RESERVED.contains(&h.ident.to_string().as_str()) {
            combine(
                errors,
                syn::Error::new(
                    h.ident.span(),
                    format!(
                        "a handler cannot be named `{}`: #[gen_server] generates a method of that name; rename the handler",
                        h.ident
                    ),
                ),
            );
        }
        for (kind, what) in [(Kind::Init, "#[init]"), (Kind::Terminate, "#[terminate]")] {
            if h.kind == kind && handlers[..i].iter().any(|o| o.kind == kind) {
                combine(
                    errors,
                    syn::Error::new(h.ident.span(), format!("only one {what} handler")),
                );
            }
        }
        if h.kind == Kind::Info
            && h.takes_signal()
            && handlers[..i]
                .iter()
                .any(|o| o.kind == Kind::Info && o.takes_signal())
        {
            combine(
                errors,
                syn::Error::new(
                    h.ident.span(),
                    "only one #[info] handler takes `Signal<..>`",
                ),
            );
        }
    }
}
