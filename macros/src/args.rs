//! The arguments of `#[gen_server(...)]`.

use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, Token};

/// Options of one `#[gen_server]`.
#[derive(Default)]
pub(crate) struct Args {
    /// `local`: no serde, reachable from its own node only.
    pub(crate) local: bool,
    /// `name = "..."`: the prefix of the wire type names (default: the type's name).
    pub(crate) name: Option<LitStr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            match key.to_string().as_str() {
                "local" => args.local = true,
                "name" => {
                    input.parse::<Token![=]>()?;
                    args.name = Some(input.parse()?);
                }
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown #[gen_server] argument `{other}`; expected `local` or `name = \"...\"`"
                        ),
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}
