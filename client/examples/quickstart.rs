use client::signing::Signer;
use client::{ClientConfig, CreateUser, Precondition, UserUpdate, Users, UsersClient, discovery};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Deployed: the URL from the stack's ApiUrl output, requests signed with your AWS
    // credentials. Locally: USERS_API_URL (comma-separated URLs), unsigned.
    let users = match std::env::var("USERS_STACK") {
        Ok(stack) => {
            let aws = client::aws_config().await;
            let endpoints = discovery::from_stack(&aws, &stack).await?;
            UsersClient::new(
                ClientConfig::new(endpoints),
                Some(Signer::from_config(&aws)?),
            )?
        }
        Err(_) => {
            let endpoints = discovery::from_list(&[std::env::var("USERS_API_URL")?])?;
            UsersClient::new(ClientConfig::new(endpoints), None)?
        }
    };
    let ada = CreateUser {
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        age: Some(36),
    };
    // A lost answer is retried with the same Idempotency-Key: one user, whatever happens.
    let ada = users.create(ada, None).await?;
    let birthday = UserUpdate {
        age: Some(37),
        ..UserUpdate::default()
    };
    // Only if nobody changed her since: otherwise ErrorKind::PreconditionFailed.
    let version = Precondition::Version(ada.version.unwrap_or_default());
    let older = users.update(ada.id, birthday, version).await?;
    println!(
        "{} is {} (version {:?})",
        older.name, older.age, older.version
    );
    Ok(())
}
