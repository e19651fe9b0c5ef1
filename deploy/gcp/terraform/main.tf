# Weir on Cloud Run: APIs, identity, network, Cloud SQL (private IP only) and Secret Manager.
# The Cloud Run service itself is in run.tf.

locals {
  image         = coalesce(var.image, "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.weir.repository_id}/weir:${var.image_tag}")
  vertex_region = coalesce(var.vertex_region, var.region)
  public_url    = coalesce(var.public_url, "https://${var.service_name}-${data.google_project.this.number}.${var.region}.run.app")
  # Cloud Run's front end connects from 169.254.0.0/16; an internal ALB adds its proxy-only subnet.
  trusted_proxies = compact(["169.254.0.0/16", var.proxy_subnet_cidr])

  secret_ids = {
    jwt    = "${var.service_name}-jwt-secret"
    oidc   = "${var.service_name}-oidc-client-secret"
    pg     = "${var.service_name}-postgres-url"
    config = "${var.service_name}-gateway-config"
  }

  gateway_yaml = var.gateway_yaml != null ? var.gateway_yaml : templatefile("${path.module}/gateway.yaml.tftpl", {
    public_url            = local.public_url
    trusted_proxies       = local.trusted_proxies
    oidc_issuer           = var.oidc_issuer
    oidc_client_id        = var.oidc_client_id
    allowed_email_domains = var.allowed_email_domains
    max_connections       = var.max_connections
    vertex_region         = local.vertex_region
    project_id            = var.project_id
  })

  postgres_url = format("postgres://%s:%s@%s:5432/%s?sslmode=require",
    google_sql_user.weir.name,
    urlencode(random_password.db.result),
    google_sql_database_instance.weir.private_ip_address,
    google_sql_database.weir.name,
  )
}

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_project_service" "this" {
  for_each = toset([
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "compute.googleapis.com",
    "iam.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
  ])

  service            = each.value
  disable_on_destroy = false
}

# ---- identity ---------------------------------------------------------------------------------

resource "google_service_account" "weir" {
  account_id   = "${var.service_name}-gateway"
  display_name = "Weir gateway"
  depends_on   = [google_project_service.this]
}

resource "google_project_iam_member" "aiplatform_user" {
  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = "serviceAccount:${google_service_account.weir.email}"
}

resource "google_artifact_registry_repository" "weir" {
  location      = var.region
  repository_id = "weir"
  format        = "DOCKER"
  description   = "Weir gateway images"
  depends_on    = [google_project_service.this]
}

# ---- network ----------------------------------------------------------------------------------

resource "google_compute_network" "weir" {
  name                    = var.network_name
  auto_create_subnetworks = false
  depends_on              = [google_project_service.this]
}

resource "google_compute_subnetwork" "weir" {
  name                     = "${var.network_name}-run"
  region                   = var.region
  network                  = google_compute_network.weir.id
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true
}

resource "google_compute_global_address" "psa" {
  name          = "google-managed-services-${var.network_name}"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 16
  network       = google_compute_network.weir.id
}

resource "google_service_networking_connection" "psa" {
  network                 = google_compute_network.weir.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.psa.name]
}

# ---- Cloud SQL --------------------------------------------------------------------------------

resource "google_sql_database_instance" "weir" {
  name                = "${var.service_name}-db"
  region              = var.region
  database_version    = "POSTGRES_16"
  deletion_protection = var.deletion_protection

  settings {
    edition           = "ENTERPRISE"
    tier              = var.sql_tier
    availability_type = var.sql_availability_type

    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.weir.id
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      start_time                     = "03:00"
      point_in_time_recovery_enabled = true
    }
  }

  depends_on = [google_service_networking_connection.psa]
}

resource "google_sql_database" "weir" {
  name     = "weir"
  instance = google_sql_database_instance.weir.name
}

resource "random_password" "db" {
  length  = 32
  special = false
}

resource "google_sql_user" "weir" {
  name     = "weir"
  instance = google_sql_database_instance.weir.name
  password = random_password.db.result
}

# ---- secrets ----------------------------------------------------------------------------------

resource "random_password" "jwt" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret" "this" {
  for_each  = local.secret_ids
  secret_id = each.value

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

resource "google_secret_manager_secret_version" "jwt" {
  secret      = google_secret_manager_secret.this["jwt"].id
  secret_data = random_password.jwt.result
}

resource "google_secret_manager_secret_version" "oidc" {
  secret      = google_secret_manager_secret.this["oidc"].id
  secret_data = var.oidc_client_secret
}

resource "google_secret_manager_secret_version" "pg" {
  secret      = google_secret_manager_secret.this["pg"].id
  secret_data = local.postgres_url
}

resource "google_secret_manager_secret_version" "config" {
  secret      = google_secret_manager_secret.this["config"].id
  secret_data = local.gateway_yaml
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = google_secret_manager_secret.this
  secret_id = each.value.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.weir.email}"
}
