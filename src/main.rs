use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = aws_app::cli::Cli::parse();
    if let Err(error) = aws_app::run(cli).await {
        if let Some(detail) = &error.detail {
            eprintln!("{}", aws_app::shown(detail.trim_end()));
        }
        eprintln!("aws-app: error: {}", aws_app::shown(&error.message));
        std::process::exit(error.exit_code());
    }
}
