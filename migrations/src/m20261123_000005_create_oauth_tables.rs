use sea_orm_migration::{prelude::*, schema::*};

/// What the gateway needs to be its own OAuth 2.1 authorization server:
/// passwords, scoped API tokens, clients, grants (the connections a user
/// sees and revokes), codes, refresh tokens, signing keys and sign-in
/// sessions. Secrets are kept only as SHA-256 digests; private keys only
/// sealed with the installation's keyring.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(string_len_null(Users::PasswordHash, 255))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiTokens::Table)
                    .add_column(
                        string_len(ApiTokens::Scopes, 255).default("alerts:read alerts:write"),
                    )
                    .to_owned(),
            )
            .await?;
        // Clients registered dynamically (RFC 7591) or by the operator.
        // Clients identified by a metadata document URL are not stored:
        // their document is.
        manager
            .create_table(
                Table::create()
                    .table(OauthClients::Table)
                    .if_not_exists()
                    .col(string_len(OauthClients::Id, 36).primary_key())
                    .col(string_len(OauthClients::Name, 255))
                    .col(text(OauthClients::RedirectUris))
                    .col(string_len(OauthClients::Origin, 16))
                    .col(string_len_null(OauthClients::SecretHash, 64))
                    .col(big_integer(OauthClients::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // One user's consent to one client: the family of every code,
        // refresh token and access token issued under it. Revoking it
        // revokes them all.
        manager
            .create_table(
                Table::create()
                    .table(OauthGrants::Table)
                    .if_not_exists()
                    .col(string_len(OauthGrants::Id, 36).primary_key())
                    .col(string_len(OauthGrants::UserId, 36))
                    .col(string_len(OauthGrants::ClientId, 512))
                    .col(string_len(OauthGrants::ClientName, 255))
                    .col(string_len(OauthGrants::Scope, 255))
                    .col(big_integer(OauthGrants::CreatedAt))
                    .col(big_integer(OauthGrants::LastUsedAt))
                    .col(big_integer_null(OauthGrants::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_oauth_grants_user")
                    .table(OauthGrants::Table)
                    .col(OauthGrants::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_oauth_grants_revoked")
                    .table(OauthGrants::Table)
                    .col(OauthGrants::RevokedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthCodes::Table)
                    .if_not_exists()
                    .col(string_len(OauthCodes::Digest, 64).primary_key())
                    .col(string_len(OauthCodes::GrantId, 36))
                    .col(text(OauthCodes::RedirectUri))
                    .col(string_len(OauthCodes::CodeChallenge, 128))
                    .col(string_len(OauthCodes::Scope, 255))
                    .col(big_integer(OauthCodes::ExpiresAt))
                    .col(big_integer_null(OauthCodes::UsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthRefreshTokens::Table)
                    .if_not_exists()
                    .col(string_len(OauthRefreshTokens::Digest, 64).primary_key())
                    .col(string_len(OauthRefreshTokens::GrantId, 36))
                    .col(big_integer(OauthRefreshTokens::CreatedAt))
                    .col(big_integer(OauthRefreshTokens::ExpiresAt))
                    .col(big_integer_null(OauthRefreshTokens::UsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_oauth_refresh_tokens_grant")
                    .table(OauthRefreshTokens::Table)
                    .col(OauthRefreshTokens::GrantId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthSigningKeys::Table)
                    .if_not_exists()
                    .col(string_len(OauthSigningKeys::Kid, 32).primary_key())
                    .col(text(OauthSigningKeys::Sealed))
                    .col(string_len(OauthSigningKeys::KeyId, 16))
                    .col(text(OauthSigningKeys::PublicJwk))
                    .col(big_integer(OauthSigningKeys::CreatedAt))
                    .col(big_integer_null(OauthSigningKeys::RetiredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebSessions::Table)
                    .if_not_exists()
                    .col(string_len(WebSessions::Digest, 64).primary_key())
                    .col(string_len(WebSessions::UserId, 36))
                    .col(string_len(WebSessions::Csrf, 64))
                    .col(big_integer(WebSessions::CreatedAt))
                    .col(big_integer(WebSessions::ExpiresAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WebSessions::Table.into_iden(),
            OauthSigningKeys::Table.into_iden(),
            OauthRefreshTokens::Table.into_iden(),
            OauthCodes::Table.into_iden(),
            OauthGrants::Table.into_iden(),
            OauthClients::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(ApiTokens::Table)
                    .drop_column(ApiTokens::Scopes)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::PasswordHash)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    PasswordHash,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Scopes,
}

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    Id,
    Name,
    RedirectUris,
    /// `dynamic` (RFC 7591) or `operator`.
    Origin,
    SecretHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OauthGrants {
    Table,
    Id,
    UserId,
    ClientId,
    ClientName,
    Scope,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum OauthCodes {
    Table,
    Digest,
    GrantId,
    RedirectUri,
    CodeChallenge,
    Scope,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum OauthRefreshTokens {
    Table,
    Digest,
    GrantId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum OauthSigningKeys {
    Table,
    Kid,
    Sealed,
    KeyId,
    PublicJwk,
    CreatedAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum WebSessions {
    Table,
    Digest,
    UserId,
    Csrf,
    CreatedAt,
    ExpiresAt,
}
