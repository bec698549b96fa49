//! The expansion of `#[gen_server]`: parse the handlers (`handler`), then generate the
//! message enums (`messages`), the `GenServer` impl (`server`) and the typed client
//! (`client`). Everything generated is what a user could write by hand against locus's
//! public API.

mod client;
mod handler;
mod messages;
mod server;

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ImplItem, ItemImpl, Type};

use crate::args::Args;
use handler::{
    Handler, Kind, check_together, combine, parse_handler, strip_serde_attrs, take_kind,
};

/// What every part of the expansion needs: the server, its handlers, the generated names.
struct Server {
    /// The server type (`Counter`) and its last path segment, which generated names start
    /// with.
    self_ty: Type,
    base: Ident,
    handlers: Vec<Handler>,
    /// `#[gen_server(local)]`: reachable from its own node only.
    local: bool,
    call_ty: Ident,
    reply_ty: Ident,
    cast_ty: Ident,
    info_ty: Ident,
    client_ty: Ident,
    /// The wire names of calls, casts and infos (`Counter.call`...).
    wire_call: String,
    wire_cast: String,
    wire_info: String,
}

impl Server {
    fn of(&self, kind: Kind) -> impl Iterator<Item = &Handler> {
        self.handlers.iter().filter(move |h| h.kind == kind)
    }

    /// The lints generated items are exempt from.
    fn lints(&self) -> TokenStream {
        quote! {
            #[allow(missing_docs, unreachable_pub, missing_debug_implementations, clippy::enum_variant_names, clippy::large_enum_variant, private_interfaces)]
        }
    }

    /// Builds the request variant of `h` in `enum_ty` from the message arguments (a pattern,
    /// or an expression: the two read alike). A variant holds its arguments in order, so an
    /// Erlang caller writes `{:name, arg1, arg2}` (`:name` for none).
    fn request(enum_ty: &Ident, h: &Handler) -> TokenStream {
        let v = h.variant();
        let names: Vec<_> = h.msgs().map(|(i, _)| i.clone()).collect();
        if names.is_empty() {
            quote! { #enum_ty::#v }
        } else {
            quote! { #enum_ty::#v(#(#names),*) }
        }
    }

    /// The type a call handler answers with.
    fn reply_of(h: &Handler) -> TokenStream {
        match (h.reply_later(), &h.ret) {
            (Some(t), _) | (None, Some(t)) => quote! { #t },
            (None, None) => quote! { () },
        }
    }
}

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
            Ok(Some(kind)) => {
                match parse_handler(kind, f) {
                    Ok(h) => handlers.push(h),
                    Err(e) => combine(&mut errors, e),
                }
                strip_serde_attrs(f);
            }
            Ok(None) => {}
            Err(e) => combine(&mut errors, e),
        }
    }
    check_together(&handlers, &mut errors);
    if let Some(e) = errors {
        return Err(e);
    }

    let wire = args
        .name
        .as_ref()
        .map(|n| n.value())
        .unwrap_or_else(|| base.to_string());
    let server = Server {
        call_ty: format_ident!("{}Call", base),
        reply_ty: format_ident!("{}Reply", base),
        cast_ty: format_ident!("{}Cast", base),
        info_ty: format_ident!("{}Info", base),
        client_ty: format_ident!("{}Client", base),
        wire_call: format!("{wire}.call"),
        wire_cast: format!("{wire}.cast"),
        wire_info: format!("{wire}.info"),
        self_ty,
        base,
        handlers,
        local: args.local,
    };

    let checks = server.remote_checks();
    let enums = server.message_enums();
    let gen_server_impl = server.gen_server_impl();
    let client = server.client();
    Ok(quote! {
        #imp

        #checks

        #enums

        #gen_server_impl

        #client
    })
}

impl Server {
    /// For a server other nodes can call: every message and reply type must serialize; say
    /// so at the type.
    fn remote_checks(&self) -> Option<TokenStream> {
        if self.local {
            return None;
        }
        let checks: Vec<TokenStream> = self
            .handlers
            .iter()
            .flat_map(|h| {
                let mut tys: Vec<&Type> = h.msgs().map(|(_, t)| t).collect();
                if h.kind == Kind::Call {
                    tys.extend(h.reply_later().or(h.ret.as_ref()));
                }
                tys
            })
            .map(|t| quote_spanned! { t.span()=> ::locus::__private::assert_remote_message::<#t>(); })
            .collect();
        (!checks.is_empty()).then(|| {
            quote! {
                const _: () = {
                    #[allow(dead_code)]
                    fn __locus_remote_messages() {
                        #(#checks)*
                    }
                };
            }
        })
    }
}
