//! The analysis, computed in code: totals, growth, shares, top and bottom products, notable
//! changes. These facts are the report's only source of numbers; the model is shown them
//! formatted, and its prose is checked against them (see `numbers`).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::error::ReportError;
use crate::month::Month;
use crate::sales::SalesRow;

/// Months of revenue the trend chart shows, the report's month last.
pub const TREND_MONTHS: usize = 13;

#[derive(Debug, Clone, Serialize)]
pub struct Breakdown {
    pub name: String,
    pub revenue: f64,
    pub units: i64,
    /// Of the month's total revenue.
    pub share_pct: f64,
    /// Against the same month a year before; `None` when it had no revenue.
    pub yoy_pct: Option<f64>,
}

/// A region whose sales of one product moved far from that product's national trend.
#[derive(Debug, Clone, Serialize)]
pub struct Notable {
    pub region: String,
    pub product: String,
    pub revenue: f64,
    pub yoy_pct: f64,
    /// The product's year-on-year change over all regions.
    pub product_yoy_pct: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub month: Month,
    pub revenue: f64,
    pub units: i64,
    pub previous_revenue: f64,
    pub year_ago_revenue: f64,
    pub mom_pct: f64,
    pub yoy_pct: f64,
    /// Sorted by revenue, largest first.
    pub regions: Vec<Breakdown>,
    pub channels: Vec<Breakdown>,
    pub products: Vec<Breakdown>,
    /// Revenue of the last [`TREND_MONTHS`] months that have data, oldest first.
    pub trend: Vec<(Month, f64)>,
    pub notable: Vec<Notable>,
}

/// Percentage points a region's product must differ from the product's national year-on-year
/// change to count as notable.
const NOTABLE_GAP_POINTS: f64 = 30.0;
const NOTABLE_MAX: usize = 3;

impl Facts {
    pub fn compute(
        month: Month,
        data: &BTreeMap<Month, Vec<SalesRow>>,
    ) -> Result<Self, ReportError> {
        let rows = |m: Month| {
            data.get(&m)
                .filter(|rows| !rows.is_empty())
                .ok_or_else(|| ReportError::NoData(m.to_string()))
        };
        let current = rows(month)?;
        let previous = rows(month.previous())?;
        let year_ago = rows(month.year_before())?;
        let revenue = total(current);
        let previous_revenue = total(previous);
        let year_ago_revenue = total(year_ago);
        let breakdown = |key: fn(&SalesRow) -> &str| {
            let now = sums(current, key);
            let before = sums(year_ago, key);
            let mut list: Vec<Breakdown> = now
                .into_iter()
                .map(|(name, (revenue_now, units))| Breakdown {
                    yoy_pct: before
                        .get(&name)
                        .map(|(r, _)| *r)
                        .filter(|r| *r > 0.0)
                        .map(|r| growth(revenue_now, r)),
                    share_pct: 100.0 * revenue_now / revenue,
                    revenue: revenue_now,
                    units,
                    name,
                })
                .collect();
            list.sort_by(|a, b| b.revenue.total_cmp(&a.revenue).then(a.name.cmp(&b.name)));
            list
        };
        let products = breakdown(|r| &r.product);
        let trend = month
            .window(TREND_MONTHS)
            .into_iter()
            .filter_map(|m| {
                data.get(&m)
                    .filter(|r| !r.is_empty())
                    .map(|r| (m, total(r)))
            })
            .collect();
        Ok(Facts {
            month,
            units: current.iter().map(|r| r.units).sum(),
            mom_pct: growth(revenue, previous_revenue),
            yoy_pct: growth(revenue, year_ago_revenue),
            regions: breakdown(|r| &r.region),
            channels: breakdown(|r| &r.channel),
            notable: notable(current, year_ago, &products),
            products,
            trend,
            revenue,
            previous_revenue,
            year_ago_revenue,
        })
    }

    /// The three products with the most revenue.
    pub fn top_products(&self) -> &[Breakdown] {
        &self.products[..self.products.len().min(3)]
    }

    /// The three products with the least revenue, least first.
    pub fn bottom_products(&self) -> Vec<&Breakdown> {
        self.products.iter().rev().take(3).collect()
    }
}

fn total(rows: &[SalesRow]) -> f64 {
    rows.iter().map(|r| r.revenue).sum()
}

fn growth(now: f64, before: f64) -> f64 {
    if before == 0.0 {
        0.0
    } else {
        100.0 * (now - before) / before
    }
}

fn sums(rows: &[SalesRow], key: fn(&SalesRow) -> &str) -> HashMap<String, (f64, i64)> {
    let mut sums: HashMap<String, (f64, i64)> = HashMap::new();
    for row in rows {
        let entry = sums.entry(key(row).to_string()).or_default();
        entry.0 += row.revenue;
        entry.1 += row.units;
    }
    sums
}

fn notable(current: &[SalesRow], year_ago: &[SalesRow], products: &[Breakdown]) -> Vec<Notable> {
    let cell = |rows: &[SalesRow]| {
        let mut cells: HashMap<(String, String), f64> = HashMap::new();
        for row in rows {
            *cells
                .entry((row.region.clone(), row.product.clone()))
                .or_default() += row.revenue;
        }
        cells
    };
    let now = cell(current);
    let before = cell(year_ago);
    let mut found: Vec<Notable> = now
        .iter()
        .filter_map(|((region, product), &revenue)| {
            let earlier = *before.get(&(region.clone(), product.clone()))?;
            let national = products.iter().find(|p| &p.name == product)?.yoy_pct?;
            let yoy = growth(revenue, earlier);
            ((yoy - national).abs() >= NOTABLE_GAP_POINTS && earlier > 0.0).then(|| Notable {
                region: region.clone(),
                product: product.clone(),
                revenue,
                yoy_pct: yoy,
                product_yoy_pct: national,
            })
        })
        .collect();
    found.sort_by(|a, b| {
        let gap = |n: &Notable| (n.yoy_pct - n.product_yoy_pct).abs();
        gap(b).total_cmp(&gap(a)).then(a.region.cmp(&b.region))
    });
    found.truncate(NOTABLE_MAX);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(region: &str, product: &str, revenue: f64) -> SalesRow {
        SalesRow {
            region: region.into(),
            channel: "Online".into(),
            product: product.into(),
            units: 1,
            revenue,
        }
    }

    #[test]
    fn growth_shares_and_notables_are_computed_from_the_rows() {
        let march = Month::parse("2024-03").expect("month");
        let mut data = BTreeMap::new();
        data.insert(
            march.year_before(),
            vec![
                row("East", "A", 100.0),
                row("West", "A", 100.0),
                row("East", "B", 50.0),
            ],
        );
        data.insert(
            march.previous(),
            vec![row("East", "A", 200.0), row("West", "B", 50.0)],
        );
        data.insert(
            march,
            vec![
                row("East", "A", 210.0),
                row("West", "A", 90.0),
                row("East", "B", 75.0),
            ],
        );
        let facts = Facts::compute(march, &data).expect("facts");
        assert_eq!(facts.revenue, 375.0);
        assert!((facts.yoy_pct - 50.0).abs() < 1e-9);
        assert!((facts.mom_pct - 50.0).abs() < 1e-9);
        assert_eq!(facts.regions[0].name, "East");
        assert!((facts.regions[0].share_pct - 76.0).abs() < 1e-9);
        assert_eq!(facts.products[0].name, "A");
        assert!((facts.products[0].yoy_pct.expect("yoy") - 50.0).abs() < 1e-9);
        // East's A grew 110% where A grew 50% overall: notable; West's A fell 10%: notable.
        let notable: Vec<(&str, &str)> = facts
            .notable
            .iter()
            .map(|n| (n.region.as_str(), n.product.as_str()))
            .collect();
        assert_eq!(notable, [("East", "A"), ("West", "A")]);
        assert_eq!(facts.trend.len(), 3);
    }

    #[test]
    fn a_missing_comparison_month_is_an_error_naming_it() {
        let march = Month::parse("2024-03").expect("month");
        let mut data = BTreeMap::new();
        data.insert(march, vec![row("East", "A", 1.0)]);
        data.insert(march.previous(), vec![row("East", "A", 1.0)]);
        let err = Facts::compute(march, &data).expect_err("no year-ago data");
        assert!(err.to_string().contains("2023-03"), "{err}");
    }
}
