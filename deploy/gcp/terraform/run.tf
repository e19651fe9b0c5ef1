# The Cloud Run service: min-instances 1 (no cold OIDC discovery), CPU always allocated (Weir runs
# background sweeps and metering flushes between requests), Direct VPC egress to reach Cloud SQL's
# private IP, a one-hour request timeout for long streams, and internal-only ingress.

resource "google_cloud_run_v2_service" "weir" {
  name                 = var.service_name
  location             = var.region
  ingress              = var.ingress
  deletion_protection  = var.deletion_protection
  invoker_iam_disabled = var.invoker_policy == "no_iam_check"

  template {
    service_account                  = google_service_account.weir.email
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"
    timeout                          = "3600s"
    max_instance_request_concurrency = var.concurrency

    scaling {
      min_instance_count = 1
      max_instance_count = var.max_instances
    }

    vpc_access {
      egress = "PRIVATE_RANGES_ONLY"
      network_interfaces {
        network    = google_compute_network.weir.id
        subnetwork = google_compute_subnetwork.weir.id
      }
    }

    # Cloud Run mounts one secret per directory, so only gateway.yaml is a file; the other
    # secrets are environment variables that the config references as ${NAME}.
    volumes {
      name = "config"
      secret {
        secret = google_secret_manager_secret.this["config"].secret_id
        items {
          version = "latest"
          path    = "gateway.yaml"
        }
      }
    }

    containers {
      image = local.image
      args  = ["serve", "--config", "/etc/weir/gateway.yaml", "--workers", tostring(var.workers)]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        cpu_idle          = false
        startup_cpu_boost = true
      }

      env {
        name  = "CLAUDE_GATEWAY_LOG_LEVEL"
        value = "info"
      }
      # Cloud Run gives an instance 10 s between SIGTERM and SIGKILL.
      env {
        name  = "CLAUDE_GATEWAY_DRAIN_TIMEOUT_MS"
        value = "8000"
      }
      env {
        name = "WEIR_JWT_SECRET"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.this["jwt"].secret_id
            version = "latest"
          }
        }
      }
      env {
        name = "WEIR_OIDC_CLIENT_SECRET"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.this["oidc"].secret_id
            version = "latest"
          }
        }
      }
      env {
        name = "WEIR_POSTGRES_URL"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.this["pg"].secret_id
            version = "latest"
          }
        }
      }

      volume_mounts {
        name       = "config"
        mount_path = "/etc/weir"
      }

      # Traffic only after Postgres answers; restart only if the process stops answering at all.
      startup_probe {
        period_seconds    = 5
        timeout_seconds   = 3
        failure_threshold = 24
        http_get {
          path = "/readyz"
          port = 8080
        }
      }

      liveness_probe {
        period_seconds    = 15
        timeout_seconds   = 3
        failure_threshold = 3
        http_get {
          path = "/healthz"
          port = 8080
        }
      }
    }
  }

  depends_on = [
    google_project_iam_member.aiplatform_user,
    google_secret_manager_secret_iam_member.accessor,
    google_secret_manager_secret_version.jwt,
    google_secret_manager_secret_version.oidc,
    google_secret_manager_secret_version.pg,
    google_secret_manager_secret_version.config,
  ]
}

# invoker_policy = "all_users": the reference deployment's default. Developers still have to sign
# in through OIDC; this only lets their requests reach the container.
resource "google_cloud_run_v2_service_iam_member" "invoker_all_users" {
  count    = var.invoker_policy == "all_users" ? 1 : 0
  project  = var.project_id
  location = google_cloud_run_v2_service.weir.location
  name     = google_cloud_run_v2_service.weir.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
