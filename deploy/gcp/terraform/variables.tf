variable "project_id" {
  description = "GCP project to deploy into."
  type        = string
}

variable "region" {
  description = "Region for Cloud Run, Cloud SQL and Artifact Registry."
  type        = string
  default     = "us-east5"
}

variable "vertex_region" {
  description = "Vertex AI region for the upstream (a region where the Claude models you need are published, or \"global\"). Defaults to var.region."
  type        = string
  default     = null
}

variable "service_name" {
  description = "Cloud Run service name; also the prefix of the secrets."
  type        = string
  default     = "weir"
}

variable "image" {
  description = "Full image reference. Defaults to REGION-docker.pkg.dev/PROJECT/weir/weir:IMAGE_TAG in the repository this configuration creates."
  type        = string
  default     = null
}

variable "image_tag" {
  description = "Tag used when var.image is not set."
  type        = string
  default     = "0.1.0"
}

variable "ingress" {
  description = "Cloud Run ingress. INGRESS_TRAFFIC_INTERNAL_ONLY: reachable from the VPC only (public_url is the run.app URL, resolved privately through Private Service Connect). INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER: also through an internal Application Load Balancer, whose host name becomes public_url."
  type        = string
  default     = "INGRESS_TRAFFIC_INTERNAL_ONLY"

  validation {
    condition     = contains(["INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"], var.ingress)
    error_message = "ingress must be INGRESS_TRAFFIC_INTERNAL_ONLY or INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER; Claude Code refuses gateways on public addresses."
  }
}

variable "invoker_policy" {
  description = "How requests get past Cloud Run's invoker check (the gateway authenticates developers itself, and clients carry no Google token). all_users: grant allUsers roles/run.invoker. no_iam_check: disable the check (works under Domain Restricted Sharing, unless run.managed.requireInvokerIam forbids it)."
  type        = string
  default     = "all_users"

  validation {
    condition     = contains(["all_users", "no_iam_check"], var.invoker_policy)
    error_message = "invoker_policy must be all_users or no_iam_check."
  }
}

variable "public_url" {
  description = "listen.public_url: the HTTPS origin developers use. Defaults to the service's deterministic run.app URL."
  type        = string
  default     = null
}

variable "proxy_subnet_cidr" {
  description = "Proxy-only subnet of the internal Application Load Balancer, added to listen.trusted_proxies."
  type        = string
  default     = null
}

variable "oidc_issuer" {
  description = "OIDC issuer URL, e.g. https://accounts.google.com."
  type        = string
}

variable "oidc_client_id" {
  description = "OAuth client id registered with redirect URI <public_url>/oauth/callback."
  type        = string
}

variable "oidc_client_secret" {
  description = "OAuth client secret. Stored in Secret Manager (and in Terraform state)."
  type        = string
  sensitive   = true
}

variable "allowed_email_domains" {
  description = "Email domains allowed to sign in."
  type        = list(string)
}

variable "gateway_yaml" {
  description = "Your own gateway.yaml, uploaded verbatim instead of the rendered one. Reference secrets as $${WEIR_JWT_SECRET}, $${WEIR_OIDC_CLIENT_SECRET} and $${WEIR_POSTGRES_URL}."
  type        = string
  default     = null
}

variable "network_name" {
  description = "VPC created for Direct VPC egress and Cloud SQL private IP."
  type        = string
  default     = "weir-vpc"
}

variable "subnet_cidr" {
  description = "Range of the subnet Cloud Run instances take addresses from."
  type        = string
  default     = "10.20.0.0/24"
}

variable "sql_tier" {
  description = "Cloud SQL machine tier."
  type        = string
  default     = "db-custom-1-3840"
}

variable "sql_availability_type" {
  description = "ZONAL or REGIONAL (high availability)."
  type        = string
  default     = "ZONAL"
}

variable "max_connections" {
  description = "store.max_connections per instance. max_instances x max_connections must stay under the database's connection limit."
  type        = number
  default     = 5
}

variable "workers" {
  description = "HTTP worker threads per instance (weir serve --workers); match var.cpu."
  type        = number
  default     = 2
}

variable "cpu" {
  description = "vCPUs per Cloud Run instance."
  type        = string
  default     = "2"
}

variable "memory" {
  description = "Memory per Cloud Run instance."
  type        = string
  default     = "1Gi"
}

variable "max_instances" {
  description = "Upper bound on Cloud Run instances."
  type        = number
  default     = 10
}

variable "concurrency" {
  description = "Concurrent requests per instance; streams are long-lived, so this is higher than Cloud Run's default."
  type        = number
  default     = 200
}

variable "deletion_protection" {
  description = "Protect the Cloud Run service and Cloud SQL instance from terraform destroy."
  type        = bool
  default     = true
}
