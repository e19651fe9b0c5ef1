terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source = "hashicorp/google"
      # invoker_iam_disabled on google_cloud_run_v2_service needs 6.x.
      version = ">= 6.10, < 8.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.5, < 4.0"
    }
  }

  # State holds the generated database password and JWT secret: keep it in an encrypted, access-
  # controlled backend, e.g.
  # backend "gcs" {
  #   bucket = "my-terraform-state"
  #   prefix = "weir"
  # }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
