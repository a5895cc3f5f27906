use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = portal_admin::cli::Cli::parse();
    match portal_admin::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
