//! The `GenServer` impl of a server: each request variant dispatched to its handler.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use super::Server;
use super::handler::{Handler, Kind, Param};

/// The call of a user handler, with the generated argument names; `reply` is what a
/// `ReplyHandle` parameter receives.
fn invoke(h: &Handler, reply: Option<TokenStream>) -> TokenStream {
    let ident = &h.ident;
    let args: Vec<TokenStream> = h
        .params
        .iter()
        .map(|p| match p {
            Param::Msg(i, _, _) => quote! { #i },
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
}

/// A match arm that runs `h` and goes on with the `Flow` it returns (or `Continue`).
fn flow_arm(h: &Handler, pat: TokenStream) -> TokenStream {
    let run = invoke(h, None);
    if h.returns_flow() {
        quote! { #pat => #run, }
    } else {
        quote! { #pat => { #run; ::locus::Flow::Continue } }
    }
}

impl Server {
    /// `impl GenServer for {Base}`.
    pub(super) fn gen_server_impl(&self) -> TokenStream {
        let Server {
            self_ty,
            call_ty,
            reply_ty,
            cast_ty,
            info_ty,
            wire_call,
            wire_cast,
            wire_info,
            ..
        } = self;

        let call_arms: Vec<_> = self
            .of(Kind::Call)
            .map(|h| {
                let pat = Server::request(call_ty, h);
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
        let cast_arms: Vec<_> = self
            .of(Kind::Cast)
            .map(|h| flow_arm(h, Server::request(cast_ty, h)))
            .collect();
        let info_arms: Vec<_> = self
            .of(Kind::Info)
            .filter(|h| !h.takes_signal())
            .map(|h| {
                let v = h.variant();
                let name = h.msgs().map(|(i, _)| i.clone()).next();
                flow_arm(h, quote! { ::locus::Signal::Message(#info_ty::#v(#name)) })
            })
            .collect();
        let other_info = match self.of(Kind::Info).find(|h| h.takes_signal()) {
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
        let init = self.of(Kind::Init).next().map(|h| {
            let run = invoke(h, None);
            let body = if h.ret.is_some() { quote! { #run } } else { quote! { #run; ::core::result::Result::Ok(()) } };
            quote! {
                async fn init(&mut self, __ctx: &mut ::locus::ServerCtx<Self>) -> ::core::result::Result<(), ::locus::ExitReason> {
                    #body
                }
            }
        });
        let terminate = self.of(Kind::Terminate).next().map(|h| {
            let run = invoke(h, None);
            quote! {
                async fn terminate(&mut self, __reason: &::locus::ExitReason, __ctx: &mut ::locus::ServerCtx<Self>) {
                    let _ = __reason;
                    #run;
                }
            }
        });
        let remote = (!self.local).then(|| {
            quote! {
                fn remote() -> ::core::option::Option<::locus::RemoteCodec<Self>> {
                    ::core::option::Option::Some(::locus::RemoteCodec::serde().named(#wire_call, #wire_cast, #wire_info).bare_replies())
                }
            }
        });
        let handled_calls = if call_arms.is_empty() {
            quote! { match __request {} }
        } else {
            quote! { match __request { #(#call_arms)* } }
        };

        quote! {
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
        }
    }
}
