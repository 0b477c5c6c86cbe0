# Optional: the Elastic Beanstalk environment itself, placed so that its addresses are
# fixed in both directions. Its instances run in private subnets (no public IP) and
# reach the internet only through the egress module's NAT gateways, whose Elastic IPs
# are the application's outbound IPs; its load balancer stays public, in the public
# subnets, where the fleet reaches it by the environment's name. Without
# eb_application_name, point eb_environment_cname at an environment you already run
# (and give its private subnets as app_private_subnets for fixed outbound IPs).

locals {
  create_environment = var.eb_application_name != null
  egress_enabled     = length(var.app_private_subnets) > 0
}

module "egress" {
  source = "../../modules/egress"
  count  = local.egress_enabled ? 1 : 0

  name               = var.name
  vpc_id             = var.vpc_id
  public_subnets     = var.public_subnets
  private_subnets    = var.app_private_subnets
  single_nat_gateway = var.egress_single_nat_gateway
}

resource "aws_elastic_beanstalk_environment" "app" {
  #checkov:skip=CKV_AWS_312:Enhanced health reporting is on (healthreporting:system SystemType = enhanced below); the check looks for HealthStreamingEnabled in that namespace, where Elastic Beanstalk does not read it.
  count = local.create_environment ? 1 : 0

  name                = "${var.name}-app"
  application         = var.eb_application_name
  solution_stack_name = var.eb_solution_stack_name
  tier                = "WebServer"

  # Instances in the private subnets, without public IPs: outbound only through NAT.
  setting {
    namespace = "aws:ec2:vpc"
    name      = "VPCId"
    value     = var.vpc_id
  }
  setting {
    namespace = "aws:ec2:vpc"
    name      = "Subnets"
    value     = join(",", sort(flatten(values(var.app_private_subnets))))
  }
  setting {
    namespace = "aws:ec2:vpc"
    name      = "AssociatePublicIpAddress"
    value     = "false"
  }
  # The load balancer in the public subnets, internet-facing: the fleet forwards to
  # the environment's CNAME, which resolves to it.
  setting {
    namespace = "aws:ec2:vpc"
    name      = "ELBSubnets"
    value     = join(",", [for az in sort(keys(var.public_subnets)) : var.public_subnets[az]])
  }
  setting {
    namespace = "aws:ec2:vpc"
    name      = "ELBScheme"
    value     = "public"
  }
  setting {
    namespace = "aws:elasticbeanstalk:environment"
    name      = "LoadBalancerType"
    value     = "application"
  }
  setting {
    namespace = "aws:autoscaling:launchconfiguration"
    name      = "IamInstanceProfile"
    value     = var.eb_instance_profile
  }
  setting {
    namespace = "aws:elasticbeanstalk:healthreporting:system"
    name      = "SystemType"
    value     = "enhanced"
  }
  setting {
    namespace = "aws:elasticbeanstalk:managedactions"
    name      = "ManagedActionsEnabled"
    value     = "true"
  }
  setting {
    namespace = "aws:elasticbeanstalk:managedactions"
    name      = "PreferredStartTime"
    value     = "Sun:10:00"
  }
  setting {
    namespace = "aws:elasticbeanstalk:managedactions:platformupdate"
    name      = "UpdateLevel"
    value     = "minor"
  }

  # The instances need their NAT routes before they boot (packages, the EB agent).
  depends_on = [module.egress]

  lifecycle {
    precondition {
      condition     = local.egress_enabled && var.eb_solution_stack_name != null
      error_message = "eb_application_name needs app_private_subnets (the environment's private subnets, routed through the egress NAT gateways) and eb_solution_stack_name."
    }
  }
}
