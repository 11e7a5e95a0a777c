use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = aws_app::cli::Cli::parse();
    let result = aws_app::run(cli).await;
    // The last step stays as a line; an error goes below it.
    aws_app::progress::finish();
    if let Err(error) = result {
        if let Some(detail) = &error.detail {
            eprintln!("{}", aws_app::shown(detail.trim_end()));
        }
        eprintln!("aws-app: error: {}", aws_app::shown(&error.message));
        std::process::exit(error.exit_code());
    }
}
