//! `nova schedule create|list|pause|resume|delete`: schedules of functions, through the daemon
//! or the local store.

use anyhow::{Context, Result};
use nova::schedule::ScheduleSpec;
use nova_store::Schedule;

use super::args::{Output, ScheduleCommand};
use super::print;
use super::target::Target;

pub async fn schedule(target: &Target, command: ScheduleCommand) -> Result<()> {
    match command {
        ScheduleCommand::Create {
            name,
            cron,
            payload,
            timezone,
            qualifier,
            output,
        } => {
            let payload = payload
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .context("--payload is not valid JSON")?;
            let spec = ScheduleSpec {
                cron: Some(cron),
                timezone,
                payload,
                enabled: None,
                qualifier,
            };
            let schedule = target.create_schedule(&name, &spec).await?;
            match output {
                Output::Json => print::json(&schedule),
                Output::Table => println!(
                    "Schedule {} of {} ({}), next fire {}",
                    schedule.id,
                    schedule.function,
                    schedule.cron,
                    time(schedule.next_fire_at_ms)
                ),
            }
        }
        ScheduleCommand::List { name, output } => {
            let schedules = target.schedules(&name).await?;
            match output {
                Output::Json => print::json(&schedules),
                Output::Table => table(&schedules),
            }
        }
        ScheduleCommand::Pause { name, id } => {
            set_enabled(target, &name, &id, false).await?;
            println!("Paused schedule {id} of {name}");
        }
        ScheduleCommand::Resume { name, id } => {
            let schedule = set_enabled(target, &name, &id, true).await?;
            println!(
                "Resumed schedule {id} of {name}, next fire {}",
                time(schedule.next_fire_at_ms)
            );
        }
        ScheduleCommand::Delete { name, id } => {
            target.delete_schedule(&name, &id).await?;
            println!("Deleted schedule {id} of {name}");
        }
    }
    Ok(())
}

async fn set_enabled(target: &Target, name: &str, id: &str, enabled: bool) -> Result<Schedule> {
    let spec = ScheduleSpec {
        enabled: Some(enabled),
        ..ScheduleSpec::default()
    };
    target.update_schedule(name, id, &spec).await
}

fn time(ms: Option<i64>) -> String {
    ms.map(comet_util::rfc3339).unwrap_or_else(|| "-".into())
}

fn table(schedules: &[Schedule]) {
    println!(
        "{:<32}  {:<16}  {:<14}  {:<9}  {:<7}  {:<24}  NEXT FIRE",
        "ID", "CRON", "TIMEZONE", "QUALIFIER", "STATE", "LAST FIRE"
    );
    for s in schedules {
        println!(
            "{:<32}  {:<16}  {:<14}  {:<9}  {:<7}  {:<24}  {}",
            s.id,
            s.cron,
            s.timezone.as_deref().unwrap_or("UTC"),
            s.qualifier.as_deref().unwrap_or("$LATEST"),
            if s.enabled { "active" } else { "paused" },
            time(s.last_fired_at_ms),
            time(s.next_fire_at_ms)
        );
    }
}
