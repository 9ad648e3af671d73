//! `repro images`: build node images from their recipes.

use anyhow::Result;
use harness::images;

/// `repro images …` subcommands.
#[derive(clap::Subcommand)]
pub enum ImagesCommand {
    /// Build a platform's image (a cache hit when the recipe is unchanged).
    Build {
        /// The platform, e.g. debian12.
        platform: String,
        /// Rebuild even when the tag exists.
        #[arg(long)]
        force: bool,
        /// Build the VM disk (recipe `[vm]` table) instead of the container image.
        #[arg(long)]
        vm: bool,
    },
    /// Print the tag a platform's recipe builds (its hash), without building.
    Tag {
        /// The platform, e.g. debian12.
        platform: String,
    },
}

/// Runs an images subcommand.
pub async fn run(c: ImagesCommand) -> Result<()> {
    match c {
        ImagesCommand::Build { platform, force, vm: true } => {
            let recipe = harness::matrix::resolve(super::parse_platform(&platform)?)?.recipe.clone();
            let r = tokio::task::spawn_blocking(move || harness::vm::disk::ensure(&recipe, force)).await??;
            println!(
                "{} {} in {} ms (kernels {})",
                r.image.dir.display(),
                if r.cached { "cache hit" } else { "built" },
                r.duration.as_millis(),
                r.image.meta.kernel_packages.join(", ")
            );
        }
        ImagesCommand::Build { platform, force, vm: false } => {
            let recipe = harness::matrix::resolve(super::parse_platform(&platform)?)?.recipe.clone();
            let docker = harness::docker::connect().await?;
            let r = images::build(&docker, &recipe, force).await?;
            println!(
                "{} {} in {} ms",
                r.tag,
                if r.cached { "cache hit" } else { "built" },
                r.duration.as_millis()
            );
        }
        ImagesCommand::Tag { platform } => {
            println!("{}", harness::matrix::resolve(super::parse_platform(&platform)?)?.recipe.clone().tag()?);
        }
    }
    Ok(())
}
