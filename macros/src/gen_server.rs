//! The expansion of `#[gen_server]`: parse the handlers, then generate the message enums,
//! the `GenServer` impl and the typed client.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, ItemImpl, Pat, PathArguments, ReturnType,
    Type,
};

use crate::args::Args;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
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
enum Param {
    /// A message argument: becomes a field of the request.
    Msg(Ident, Type),
    /// `&mut ServerCtx<Self>` (or `Ctx`).
    Ctx,
    /// `ReplyHandle<T>`: the call is answered later; `T` is the reply.
    Reply(Type),
    /// `Signal<..>`: the info handler for system signals.
    Signal,
    /// `&ExitReason`, for terminate.
    Reason,
}

struct Handler {
    kind: Kind,
    ident: Ident,
    is_async: bool,
    params: Vec<Param>,
    /// The return type, if not `()`.
    ret: Option<Type>,
}

impl Handler {
    fn msgs(&self) -> impl Iterator<Item = (&Ident, &Type)> {
        self.params.iter().filter_map(|p| match p {
            Param::Msg(i, t) => Some((i, t)),
            _ => None,
        })
    }

    fn reply_later(&self) -> Option<&Type> {
        self.params.iter().find_map(|p| match p {
            Param::Reply(t) => Some(t),
            _ => None,
        })
    }

    fn takes_signal(&self) -> bool {
        self.params.iter().any(|p| matches!(p, Param::Signal))
    }

    fn returns_flow(&self) -> bool {
        self.ret
            .as_ref()
            .is_some_and(|t| last_segment(t).is_some_and(|s| s == "Flow"))
    }

    fn variant(&self) -> Ident {
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

/// Takes the handler attribute off a method; `Ok(None)` for a plain method.
fn take_kind(f: &mut ImplItemFn) -> syn::Result<Option<Kind>> {
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

fn combine(acc: &mut Option<syn::Error>, e: syn::Error) {
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

fn parse_handler(kind: Kind, f: &ImplItemFn) -> syn::Result<Handler> {
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
            Param::Msg(name, ty.clone())
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
const RESERVED: &[&str] = &[
    "timeout",
    "inner",
    "into_inner",
    "pid",
    "stop",
    "start",
    "client",
];

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args: Args = syn::parse2(attr)?;
    let mut imp: ItemImpl = syn::parse2(item)?;
    if let Some((_, path, _)) = &imp.trait_ {
        return Err(syn::Error::new(
            path.span(),
            "#[gen_server] goes on an inherent impl block (`impl MyServer { .. }`), not a trait impl",
        ));
    }
    if !imp.generics.params.is_empty() {
        return Err(syn::Error::new(
            imp.generics.span(),
            "#[gen_server] does not support generic servers; implement GenServer by hand",
        ));
    }
    let self_ty = (*imp.self_ty).clone();
    let base = match &self_ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.clone()),
        _ => None,
    }
    .ok_or_else(|| syn::Error::new(self_ty.span(), "#[gen_server] needs a named type"))?;

    let mut handlers = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for item in &mut imp.items {
        let ImplItem::Fn(f) = item else { continue };
        match take_kind(f) {
            Ok(Some(kind)) => match parse_handler(kind, f) {
                Ok(h) => handlers.push(h),
                Err(e) => combine(&mut errors, e),
            },
            Ok(None) => {}
            Err(e) => combine(&mut errors, e),
        }
    }
    // Two handlers with one name, or a name the generated code needs.
    for (i, h) in handlers.iter().enumerate() {
        if handlers[..i].iter().any(|o| o.ident == h.ident) {
            combine(
                &mut errors,
                syn::Error::new(
                    h.ident.span(),
                    format!("two handlers are named `{}`", h.ident),
                ),
            );
        }
        if RESERVED.contains(&h.ident.to_string().as_str()) {
            combine(
                &mut errors,
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
                    &mut errors,
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
                &mut errors,
                syn::Error::new(
                    h.ident.span(),
                    "only one #[info] handler takes `Signal<..>`",
                ),
            );
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }

    let call_ty = format_ident!("{}Call", base);
    let reply_ty = format_ident!("{}Reply", base);
    let cast_ty = format_ident!("{}Cast", base);
    let info_ty = format_ident!("{}Info", base);
    let client_ty = format_ident!("{}Client", base);
    let wire = args
        .name
        .as_ref()
        .map(|n| n.value())
        .unwrap_or_else(|| base.to_string());
    let (wire_call, wire_cast, wire_info) = (
        format!("{wire}.call"),
        format!("{wire}.cast"),
        format!("{wire}.info"),
    );

    let derives = if args.local {
        quote! {}
    } else {
        quote! {
            #[derive(::locus::__private::serde::Serialize, ::locus::__private::serde::Deserialize)]
            #[serde(crate = "::locus::__private::serde")]
        }
    };
    let lints = quote! {
        #[allow(missing_docs, unreachable_pub, missing_debug_implementations, clippy::enum_variant_names, clippy::large_enum_variant, private_interfaces)]
    };

    let of = |k: Kind| handlers.iter().filter(move |h| h.kind == k);

    // Request enums: a struct-like variant per handler, its fields the message arguments.
    let request_variant = |h: &Handler| {
        let v = h.variant();
        let fields: Vec<_> = h.msgs().map(|(i, t)| quote! { #i: #t }).collect();
        if fields.is_empty() {
            quote! { #v }
        } else {
            quote! { #v { #(#fields),* } }
        }
    };
    let call_variants: Vec<_> = of(Kind::Call).map(request_variant).collect();
    let cast_variants: Vec<_> = of(Kind::Cast).map(request_variant).collect();
    let info_variants: Vec<_> = of(Kind::Info)
        .filter(|h| !h.takes_signal())
        .map(|h| {
            let v = h.variant();
            let t = h.msgs().map(|(_, t)| t.clone()).next();
            quote! { #v(#t) }
        })
        .collect();
    let reply_variants: Vec<_> = of(Kind::Call)
        .map(|h| {
            let v = h.variant();
            let t = match (h.reply_later(), &h.ret) {
                (Some(t), _) => quote! { #t },
                (None, Some(t)) => quote! { #t },
                (None, None) => quote! { () },
            };
            quote! { #v(#t) }
        })
        .collect();

    // The call of a user handler, with the generated argument names.
    let invoke = |h: &Handler, reply: Option<TokenStream>| {
        let ident = &h.ident;
        let args: Vec<TokenStream> = h
            .params
            .iter()
            .map(|p| match p {
                Param::Msg(i, _) => quote! { #i },
                Param::Ctx => quote! { &mut *__ctx },
                Param::Reply(_) => reply.clone().unwrap_or_default(),
                Param::Signal => quote! { __signal },
                Param::Reason => quote! { __reason },
            })
            .collect();
        let call = quote_spanned! { h.ident.span()=> self.#ident(#(#args),*) };
        if h.is_async {
            quote! { #call.await }
        } else {
            call
        }
    };
    let pattern = |enum_ty: &Ident, h: &Handler| {
        let v = h.variant();
        let names: Vec<_> = h.msgs().map(|(i, _)| i.clone()).collect();
        if names.is_empty() {
            quote! { #enum_ty::#v }
        } else {
            quote! { #enum_ty::#v { #(#names),* } }
        }
    };

    let call_arms: Vec<_> = of(Kind::Call)
        .map(|h| {
            let pat = pattern(&call_ty, h);
            let v = h.variant();
            if h.reply_later().is_some() {
                let run = invoke(h, Some(quote! { __from.map(#reply_ty::#v) }));
                quote! { #pat => { #run; } }
            } else {
                let run = invoke(h, None);
                quote! { #pat => { let __reply = #run; __from.reply(#reply_ty::#v(__reply)); } }
            }
        })
        .collect();
    let flow_arm = |h: &Handler, pat: TokenStream| {
        let run = invoke(h, None);
        if h.returns_flow() {
            quote! { #pat => #run, }
        } else {
            quote! { #pat => { #run; ::locus::Flow::Continue } }
        }
    };
    let cast_arms: Vec<_> = of(Kind::Cast)
        .map(|h| flow_arm(h, pattern(&cast_ty, h)))
        .collect();
    let info_arms: Vec<_> = of(Kind::Info)
        .filter(|h| !h.takes_signal())
        .map(|h| {
            let v = h.variant();
            let name = h.msgs().map(|(i, _)| i.clone()).next();
            flow_arm(h, quote! { ::locus::Signal::Message(#info_ty::#v(#name)) })
        })
        .collect();
    let other_info = match of(Kind::Info).find(|h| h.takes_signal()) {
        Some(h) => {
            let run = invoke(h, None);
            if h.returns_flow() {
                quote! { __signal => #run, }
            } else {
                quote! { __signal => { #run; ::locus::Flow::Continue } }
            }
        }
        None => quote! {
            __signal => {
                ::locus::__private::log_unhandled(&__signal, __ctx.pid());
                ::locus::Flow::Continue
            }
        },
    };
    let init = of(Kind::Init).next().map(|h| {
        let run = invoke(h, None);
        let body = if h.ret.is_some() { quote! { #run } } else { quote! { #run; ::core::result::Result::Ok(()) } };
        quote! {
            async fn init(&mut self, __ctx: &mut ::locus::ServerCtx<Self>) -> ::core::result::Result<(), ::locus::ExitReason> {
                #body
            }
        }
    });
    let terminate = of(Kind::Terminate).next().map(|h| {
        let run = invoke(h, None);
        quote! {
            async fn terminate(&mut self, __reason: &::locus::ExitReason, __ctx: &mut ::locus::ServerCtx<Self>) {
                let _ = __reason;
                #run;
            }
        }
    });
    let remote = (!args.local).then(|| {
        quote! {
            fn remote() -> ::core::option::Option<::locus::RemoteCodec<Self>> {
                ::core::option::Option::Some(::locus::RemoteCodec::serde().named(#wire_call, #wire_cast, #wire_info))
            }
        }
    });

    // Client methods.
    let call_methods = of(Kind::Call).map(|h| {
        let ident = &h.ident;
        let v = h.variant();
        let params: Vec<_> = h.msgs().map(|(i, t)| quote! { #i: #t }).collect();
        let build = {
            let names: Vec<_> = h.msgs().map(|(i, _)| i.clone()).collect();
            if names.is_empty() { quote! { #call_ty::#v } } else { quote! { #call_ty::#v { #(#names),* } } }
        };
        let out = match (h.reply_later(), &h.ret) {
            (Some(t), _) | (None, Some(t)) => quote! { #t },
            (None, None) => quote! { () },
        };
        let doc = format!("Calls [`{base}::{ident}`] and waits for its reply (5 s unless set with `timeout`).");
        quote! {
            #[doc = #doc]
            pub async fn #ident(&self, #(#params),*) -> ::core::result::Result<#out, ::locus::CallError> {
                #[allow(unreachable_patterns)]
                match self.inner.call(#build).await? {
                    #reply_ty::#v(__v) => ::core::result::Result::Ok(__v),
                    _ => ::core::result::Result::Err(::locus::CallError::BadType(::core::concat!(#wire_call, ": a reply of another call").into())),
                }
            }
        }
    });
    let cast_methods = of(Kind::Cast).map(|h| {
        let ident = &h.ident;
        let v = h.variant();
        let params: Vec<_> = h.msgs().map(|(i, t)| quote! { #i: #t }).collect();
        let names: Vec<_> = h.msgs().map(|(i, _)| i.clone()).collect();
        let build = if names.is_empty() { quote! { #cast_ty::#v } } else { quote! { #cast_ty::#v { #(#names),* } } };
        let doc = format!("Casts to [`{base}::{ident}`]: returns once the request is queued (on a busy connection to another node, once it drains; see [`Client::cast_paced`](::locus::Client::cast_paced)).");
        quote! {
            #[doc = #doc]
            pub async fn #ident(&self, #(#params),*) -> ::core::result::Result<(), ::locus::SendError<#cast_ty>> {
                self.inner.cast_paced(#build).await
            }
        }
    });
    let info_methods = of(Kind::Info).filter(|h| !h.takes_signal()).map(|h| {
        let ident = &h.ident;
        let v = h.variant();
        let (name, ty) = h.msgs().next().map(|(i, t)| (i.clone(), t.clone())).unzip();
        let doc = format!("Sends a message handled by [`{base}::{ident}`].");
        quote! {
            #[doc = #doc]
            pub async fn #ident(&self, #name: #ty) -> ::core::result::Result<(), ::locus::SendError<#info_ty>> {
                self.inner.send(#info_ty::#v(#name))
            }
        }
    });

    // Remote servers: every message and reply type must serialize; say so at the type.
    let checks: Vec<TokenStream> = if args.local {
        Vec::new()
    } else {
        handlers
            .iter()
            .flat_map(|h| {
                let mut tys: Vec<&Type> = h.msgs().map(|(_, t)| t).collect();
                if h.kind == Kind::Call {
                    tys.extend(h.reply_later().or(h.ret.as_ref()));
                }
                tys
            })
            .map(|t| quote_spanned! { t.span()=> ::locus::__private::assert_remote_message::<#t>(); })
            .collect()
    };
    let checks = (!checks.is_empty()).then(|| {
        quote! {
            const _: () = {
                #[allow(dead_code)]
                fn __locus_remote_messages() {
                    #(#checks)*
                }
            };
        }
    });

    let doc_call = format!(
        "Calls of [`{base}`], one variant per `#[call]` handler (generated by `#[gen_server]`)."
    );
    let doc_reply = format!(
        "Replies of [`{base}`], one variant per `#[call]` handler (generated by `#[gen_server]`)."
    );
    let doc_cast = format!(
        "Casts to [`{base}`], one variant per `#[cast]` handler (generated by `#[gen_server]`)."
    );
    let doc_info = format!(
        "Plain messages for [`{base}`], one variant per `#[info]` handler (generated by `#[gen_server]`)."
    );
    let doc_client = format!(
        "A typed client of [`{base}`] at a pid, a name or `(name, node)` (generated by `#[gen_server]`)."
    );

    let handled_calls = if call_arms.is_empty() {
        quote! { match __request {} }
    } else {
        quote! { match __request { #(#call_arms)* } }
    };

    Ok(quote! {
        #imp

        #checks

        #[doc = #doc_call]
        #derives
        #lints
        pub enum #call_ty { #(#call_variants),* }

        #[doc = #doc_reply]
        #derives
        #lints
        pub enum #reply_ty { #(#reply_variants),* }

        #[doc = #doc_cast]
        #derives
        #lints
        pub enum #cast_ty { #(#cast_variants),* }

        #[doc = #doc_info]
        #derives
        #lints
        pub enum #info_ty { #(#info_variants),* }

        #[automatically_derived]
        impl ::locus::GenServer for #self_ty {
            type Call = #call_ty;
            type Reply = #reply_ty;
            type Cast = #cast_ty;
            type Info = #info_ty;

            #remote
            #init

            // Unreachable when the server has no calls (an empty request type).
            #[allow(unreachable_code)]
            async fn handle_call(&mut self, __request: #call_ty, __from: ::locus::ReplyHandle<#reply_ty>, __ctx: &mut ::locus::ServerCtx<Self>) -> ::locus::Flow {
                let _ = &__ctx;
                #handled_calls
                ::locus::Flow::Continue
            }

            async fn handle_cast(&mut self, __msg: #cast_ty, __ctx: &mut ::locus::ServerCtx<Self>) -> ::locus::Flow {
                let _ = &__ctx;
                #[allow(unreachable_code)]
                match __msg { #(#cast_arms)* }
            }

            async fn handle_info(&mut self, __info: ::locus::Signal<#info_ty>, __ctx: &mut ::locus::ServerCtx<Self>) -> ::locus::Flow {
                #[allow(unreachable_patterns)]
                match __info {
                    #(#info_arms)*
                    #other_info
                }
            }

            #terminate
        }

        #[doc = #doc_client]
        #[derive(Clone, Debug)]
        #lints
        pub struct #client_ty {
            inner: ::locus::Client<#self_ty>,
        }

        impl ::core::convert::From<::locus::Client<#self_ty>> for #client_ty {
            fn from(inner: ::locus::Client<#self_ty>) -> Self {
                Self { inner }
            }
        }

        #lints
        impl #client_ty {
            /// The same client with another call timeout.
            pub fn timeout(self, timeout: ::core::time::Duration) -> Self {
                Self { inner: self.inner.timeout(timeout) }
            }

            /// The untyped client underneath.
            pub fn inner(&self) -> &::locus::Client<#self_ty> {
                &self.inner
            }

            /// The untyped client underneath, by value.
            pub fn into_inner(self) -> ::locus::Client<#self_ty> {
                self.inner
            }

            /// The server's pid (see [`locus::Client::pid`]).
            pub fn pid(&self) -> ::core::option::Option<::locus::Pid> {
                self.inner.pid()
            }

            /// Stops the server (see [`locus::Client::stop`]).
            pub async fn stop(&self, reason: ::locus::ExitReason) -> ::core::result::Result<(), ::locus::CallError> {
                self.inner.stop(reason).await
            }

            #(#call_methods)*
            #(#cast_methods)*
            #(#info_methods)*
        }

        #lints
        impl #self_ty {
            /// A typed client for the server at `dest`: a pid, a local name or `(name, node)`.
            pub fn client(node: &::locus::Node, dest: impl ::core::convert::Into<::locus::Dest>) -> #client_ty {
                #client_ty { inner: ::locus::Client::new(node, dest) }
            }

            /// Starts `server` on `node`; awaiting the result gives a typed client.
            pub fn start(node: &::locus::Node, server: Self) -> ::locus::Start<Self, #client_ty> {
                <Self as ::locus::GenServer>::start(node, server).with_client()
            }
        }
    })
}
