use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = aws_app::cli::Cli::parse();
    if let Err(error) = aws_app::run(cli).await {
        if let Some(detail) = &error.detail {
            eprintln!("{}", detail.trim_end());
        }
        eprintln!("aws-app: error: {error}");
        std::process::exit(error.exit_code());
    }
}
