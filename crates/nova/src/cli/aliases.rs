//! `nova alias set|list|get|delete`: aliases of functions, through the daemon or the local store.

use std::collections::BTreeMap;

use anyhow::Result;
use nova_api::{FunctionAlias, parse_weight};

use super::args::{AliasCommand, Output};
use super::print;
use super::target::Target;

pub async fn alias(target: &Target, command: AliasCommand) -> Result<()> {
    match command {
        AliasCommand::Set {
            name,
            alias,
            version,
            weight,
            description,
            output,
        } => {
            let routing = match weight {
                Some(text) => BTreeMap::from([parse_weight(&text)?]),
                None => BTreeMap::new(),
            };
            let description = match description {
                Some(text) => text,
                // Moving an alias keeps what it is for.
                None => (target.alias(&name, &alias).await)
                    .map(|a| a.description)
                    .unwrap_or_default(),
            };
            let alias = FunctionAlias {
                function: name,
                name: alias,
                version,
                routing,
                description,
                created_at: String::new(),
                updated_at: String::new(),
            };
            alias.validate()?;
            let alias = target.set_alias(&alias).await?;
            match output {
                Output::Json => print::json(&alias),
                Output::Table => println!(
                    "Alias {} of {} -> {}",
                    alias.name,
                    alias.function,
                    print::alias_targets(&alias)
                ),
            }
        }
        AliasCommand::List { name, output } => {
            let aliases = target.aliases(&name).await?;
            match output {
                Output::Json => print::json(&aliases),
                Output::Table => print::alias_table(&aliases),
            }
        }
        AliasCommand::Get {
            name,
            alias,
            output,
        } => {
            let alias = target.alias(&name, &alias).await?;
            match output {
                Output::Json => print::json(&alias),
                Output::Table => print::alias_details(&alias),
            }
        }
        AliasCommand::Delete { name, alias } => {
            target.delete_alias(&name, &alias).await?;
            println!("Deleted alias {alias} of {name}");
        }
    }
    Ok(())
}
