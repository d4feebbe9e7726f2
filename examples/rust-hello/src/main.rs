use serde::{Deserialize, Serialize};
use std::{env, fs};

#[derive(Deserialize)]
struct Event { name: Option<String> }

#[derive(Serialize)]
struct Response { message: String, runtime: String }

fn main() {
    let data = fs::read_to_string(&env::args().nth(1).unwrap()).unwrap();
    let event: Event = serde_json::from_str(&data).unwrap();
    let name = event.name.unwrap_or("Anonymous".into());
    let resp = Response {
        message: format!("Hello, {}!", name),
        runtime: "rust".into(),
    };
    println!("{}", serde_json::to_string(&resp).unwrap());
}
