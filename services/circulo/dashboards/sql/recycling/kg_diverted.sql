-- Clean deposits plus items repaired: what stayed out of the residual waste stream.
SELECT (COALESCE((SELECT sum(weight_g) FROM dashboards.deposit
                  WHERE coop_id IN ($coop) AND NOT contaminated AND $__timeFilter(ts)), 0)
      + COALESCE((SELECT sum(weight_g) FROM dashboards.repair
                  WHERE coop_id IN ($coop) AND status = 'fixed' AND $__timeFilter(ts)), 0)) / 1000.0
       AS "Diverted"
