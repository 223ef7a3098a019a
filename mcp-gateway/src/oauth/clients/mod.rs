//! OAuth clients: the redirect URIs they may use, Dynamic Client
//! Registration requests (RFC 7591), and clients that identify themselves
//! by a metadata document URL instead of registering.

pub mod error;
pub mod metadata_document;
pub mod redirect;
pub mod registration;

pub use self::{
    error::{ErrorCode, RegistrationError},
    metadata_document::{
        ClientMetadata, Limits, MetadataDocuments, MetadataError, client_id_url,
        is_metadata_client_id, parse_document,
    },
    redirect::RedirectUri,
    registration::{
        ClientRegistration, GrantType, ResponseType, TokenEndpointAuthMethod, parse_registration,
        registration_response,
    },
};
