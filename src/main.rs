use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = portal_admin::cli::Cli::parse();
    match portal_admin::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            // A refused configuration is EX_CONFIG: restarting it changes nothing.
            match err.downcast_ref::<portal_admin::config::ConfigError>() {
                Some(_) => {
                    std::process::ExitCode::from(portal_admin::config::ConfigError::EXIT_CODE)
                }
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}
