//! GoPay identification service: payloads, tokens and polling rules. Pure: no AWS types.
